#pragma once
// A small fixed-size pool of PostgreSQL connections for threads that share a database.
//
//   pg::ConnectionPool pool(config, 4);
//   auto lease = pool.Acquire();            // Result<Lease>; transient "pg_pool_timeout"
//   if (!lease.ok()) return lease.error();
//   pqxx::work txn(**lease);                // the connection is this thread's until the lease ends
//
// Connections are opened lazily, at most `max_size` at once. A lease gives its connection back
// when destroyed. A connection that is broken (the lease was MarkBroken(), or !is_open()) is
// closed instead of returned, and so are all idle ones (a lost connection usually means the server
// restarted, which killed its siblings too); the next Acquire() opens a fresh one.
// Most callers want WithTransaction() (transaction.hpp) rather than leases.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include <pqxx/pqxx>

#include "chansum/common/result.hpp"
#include "chansum/pg/connection.hpp"

namespace chansum::pg {

class ConnectionPool {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    pqxx::connection& operator*() const noexcept { return *conn_; }
    pqxx::connection* operator->() const noexcept { return conn_.get(); }
    // Drop this connection when the lease ends instead of reusing it (call after
    // pqxx::broken_connection, or whenever its session state is in doubt).
    void MarkBroken() noexcept { broken_ = true; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn) noexcept
        : pool_(pool), conn_(std::move(conn)) {}
    void Release() noexcept;

    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<pqxx::connection> conn_;
    bool broken_ = false;
  };

  struct Stats {
    std::size_t open = 0;       // connections that exist (idle + leased + being opened)
    std::size_t idle = 0;       // connections waiting in the pool
    std::uint64_t created = 0;  // connections opened so far
    std::uint64_t dropped = 0;  // broken connections closed so far
  };

  // `max_size` >= 1. `acquire_timeout` is the default wait of Acquire() when all connections are
  // leased. Opening a connection is bounded by config.connect_timeout, not by acquire_timeout.
  ConnectionPool(PgConfig config, std::size_t max_size,
                 std::chrono::milliseconds acquire_timeout = std::chrono::seconds(5));
  // All leases must have ended before the pool is destroyed.
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // An idle connection, else a new one if fewer than max_size exist, else waits up to the timeout
  // for one to come back. Errors (transient): "pg_pool_timeout", or Connect()'s "pg_connect".
  [[nodiscard]] Result<Lease> Acquire();
  [[nodiscard]] Result<Lease> Acquire(std::chrono::milliseconds timeout);

  [[nodiscard]] Stats stats() const;
  [[nodiscard]] std::size_t max_size() const noexcept { return max_size_; }
  [[nodiscard]] const PgConfig& config() const noexcept { return config_; }

 private:
  void Return(std::unique_ptr<pqxx::connection> conn, bool broken) noexcept;

  const PgConfig config_;
  const std::size_t max_size_;
  const std::chrono::milliseconds acquire_timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t open_ = 0;
  std::uint64_t created_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace chansum::pg
