#pragma once
// The analytics service: a Kafka consumer group over the 7 event topics that keeps aggregates in
// PostgreSQL, and the HTTP server that serves them, in one process.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "chansum/common/config.hpp"
#include "chansum/http/exposure.hpp"
#include "chansum/kafka/config.hpp"
#include "chansum/kafka/consumer.hpp"
#include "chansum/pg/connection.hpp"
#include "chansum/service/service.hpp"

namespace chansum::analytics {

struct AnalyticsConfig {
  std::string queue_prefix;             // QUEUE_PREFIX (default "")
  std::string http_addr = "127.0.0.1";  // ANALYTICS_HTTP_ADDR
  int http_port = 8090;                 // ANALYTICS_HTTP_PORT (0 = any free port)
  http::AccessConfig access;        // API_TOKEN, ALLOW_UNAUTHENTICATED, HTTP_MAX_CONNECTIONS, ...
  int db_pool_size = 4;             // ANALYTICS_DB_POOL_SIZE
  int topic_partitions = 3;         // ANALYTICS_TOPIC_PARTITIONS (when it creates the topics)
  service::ServiceOptions service;  // SHUTDOWN_TIMEOUT_SECONDS
  std::chrono::milliseconds poll_timeout{500};  // ANALYTICS_POLL_TIMEOUT
  kafka::KafkaConfig kafka;                     // KAFKA_BROKERS (required), KAFKA_CLIENT_ID, ...
  pg::PgConfig pg;                              // DATABASE_URL (required), PG_* ...

  [[nodiscard]] static AnalyticsConfig FromEnv(ConfigReader& env);
  [[nodiscard]] std::string GroupId() const { return queue_prefix + "analytics"; }
  [[nodiscard]] std::vector<std::string> Topics() const;
};

struct ServiceStats {
  std::uint64_t applied = 0;          // events applied (new)
  std::uint64_t duplicates = 0;       // events already applied before (no-op)
  std::uint64_t rejected = 0;         // records stored in analytics_rejects
  std::uint64_t redeliveries = 0;     // records given back because PostgreSQL failed
  std::uint64_t commit_failures = 0;  // Kafka offset commits that failed after the DB commit
};

class Service {
 public:
  explicit Service(AnalyticsConfig config);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Runs until `should_stop` returns true: starts the HTTP server, applies the schema (waiting
  // for PostgreSQL), then consumes. On stop it finishes the record in hand (DB commit, offset
  // commit), leaves the group and stops the HTTP server. Returns 0 after a clean stop, 1 on a
  // fatal error (cannot listen, migration drift).
  int Run(const std::function<bool()>& should_stop);

  // The bound HTTP port once listening (useful with http_port = 0), else 0.
  [[nodiscard]] int http_port() const noexcept { return bound_port_.load(); }
  [[nodiscard]] bool Ready() const noexcept;
  [[nodiscard]] ServiceStats Stats() const;
  // This member's current partitions (empty when not in the group).
  [[nodiscard]] std::vector<kafka::TopicPartition> Assignment() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<int> bound_port_{0};
};

// The process entry point: env config (exit 2 on problems), JSON logs, SIGTERM/SIGINT -> clean
// stop (exit 0).
int Main();

}  // namespace chansum::analytics
