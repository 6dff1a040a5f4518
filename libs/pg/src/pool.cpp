#include "chansum/pg/pool.hpp"

#include <cassert>
#include <utility>

namespace chansum::pg {

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      conn_(std::move(other.conn_)),
      broken_(std::exchange(other.broken_, false)) {}

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::exchange(other.pool_, nullptr);
    conn_ = std::move(other.conn_);
    broken_ = std::exchange(other.broken_, false);
  }
  return *this;
}

ConnectionPool::Lease::~Lease() { Release(); }

void ConnectionPool::Lease::Release() noexcept {
  if (pool_ != nullptr && conn_) pool_->Return(std::move(conn_), broken_);
  pool_ = nullptr;
  conn_.reset();
  broken_ = false;
}

ConnectionPool::ConnectionPool(PgConfig config, std::size_t max_size,
                               std::chrono::milliseconds acquire_timeout)
    : config_(std::move(config)),
      max_size_(max_size == 0 ? 1 : max_size),
      acquire_timeout_(acquire_timeout) {}

ConnectionPool::~ConnectionPool() {
  std::lock_guard lock(mu_);
  assert(open_ == idle_.size() && "ConnectionPool destroyed while connections are leased");
  idle_.clear();
}

Result<ConnectionPool::Lease> ConnectionPool::Acquire() { return Acquire(acquire_timeout_); }

Result<ConnectionPool::Lease> ConnectionPool::Acquire(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> conn = std::move(idle_.front());
      idle_.pop_front();
      if (conn->is_open()) return Lease(this, std::move(conn));
      --open_;  // closed while idle: drop it
      ++dropped_;
    }
    if (open_ < max_size_) break;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= max_size_) {
      return Error::Transient("pg_pool_timeout", "no PostgreSQL connection free within " +
                                                     std::to_string(timeout.count()) +
                                                     " ms (pool of " + std::to_string(max_size_) +
                                                     ", all in use)");
    }
  }
  ++open_;  // reserve the slot, connect without holding the lock
  lock.unlock();
  auto conn = Connect(config_);
  lock.lock();
  if (!conn.ok()) {
    --open_;
    cv_.notify_one();
    return std::move(conn).error();
  }
  ++created_;
  return Lease(this, std::move(*conn));
}

void ConnectionPool::Return(std::unique_ptr<pqxx::connection> conn, bool broken) noexcept {
  std::deque<std::unique_ptr<pqxx::connection>> to_close;
  {
    std::lock_guard lock(mu_);
    if (broken || !conn->is_open()) {
      // The server probably restarted or failed over: the idle siblings are likely dead too.
      to_close.swap(idle_);
      to_close.push_back(std::move(conn));
      open_ -= to_close.size();
      dropped_ += to_close.size();
      cv_.notify_all();  // waiters may now open new connections
    } else {
      idle_.push_back(std::move(conn));
      cv_.notify_one();
    }
  }
  // Closing happens outside the lock (it may talk to the server).
}

ConnectionPool::Stats ConnectionPool::stats() const {
  std::lock_guard lock(mu_);
  return Stats{open_, idle_.size(), created_, dropped_};
}

}  // namespace chansum::pg
