#pragma once
// event_logger: consumes the domain-event fanout `<QUEUE_PREFIX>events` through its own durable
// quorum queue `<QUEUE_PREFIX>events.audit` and appends each event, deduplicated by event_id, to
// the size-rotated audit log (audit_log.hpp). Acked ⇒ written and fsynced. Events the fanout did
// not deliver are taken from the Kafka event topics (backfill.hpp). See README.md.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "chansum/amqp/config.hpp"
#include "chansum/amqp/connection.hpp"
#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/http/exposure.hpp"
#include "src/audit_log.hpp"
#include "src/backfill.hpp"

namespace chansum::event_logger {

inline constexpr int kDefaultDeliveryLimit = 10;

struct EventLoggerConfig {
  amqp::AmqpConfig amqp;
  std::string queue_prefix;                                    // QUEUE_PREFIX, default ""
  std::filesystem::path audit_dir = "/var/lib/chansum/audit";  // AUDIT_LOG_DIR
  std::uint64_t max_bytes = 64ULL * 1024 * 1024;               // AUDIT_LOG_MAX_BYTES
  int keep = 10;                                               // AUDIT_LOG_KEEP
  int prefetch = 100;                                          // EVENT_LOGGER_PREFETCH
  std::chrono::milliseconds batch_window{100};                 // EVENT_LOGGER_BATCH_WINDOW
  int delivery_limit = kDefaultDeliveryLimit;                  // EVENT_LOGGER_DELIVERY_LIMIT
  std::string health_addr = "127.0.0.1";                       // HEALTH_ADDR
  int health_port = 0;                                         // HEALTH_PORT, 0 = no endpoint
  http::AccessConfig access;  // API_TOKEN, ALLOW_UNAUTHENTICATED, HTTP_* limits (health listener)
  // The Kafka backfill: on when KAFKA_BROKERS is set and AUDIT_BACKFILL is not false; group
  // "<prefix>event-logger-backfill" over the event topics, AUDIT_BACKFILL_DELAY behind (30s).
  BackfillConfig backfill;

  // Reads every variable above (plus the AMQP_* ones); problems are recorded in `env`.
  [[nodiscard]] static EventLoggerConfig FromEnv(ConfigReader& env);

  [[nodiscard]] std::string Exchange() const { return queue_prefix + "events"; }
  [[nodiscard]] std::string Queue() const { return queue_prefix + "events.audit"; }
  [[nodiscard]] std::string DeadLetterQueue() const { return Queue() + ".dlq"; }
  // connection_name of the consumer connection (rabbitmqctl list_connections client_properties).
  [[nodiscard]] std::string ConsumerConnectionName() const {
    return queue_prefix + "event-logger-consumer";
  }
  [[nodiscard]] AuditLogOptions LogOptions() const { return {audit_dir, max_bytes, keep}; }
};

// Declares (idempotently) the durable fanout, the dead-letter quorum queue, the audit quorum
// queue (x-delivery-limit, dead-lettering at-least-once to the DLQ through the default exchange,
// x-overflow reject-publish) and binds the queue to the fanout.
[[nodiscard]] Status DeclareAuditTopology(amqp::Connection& conn, const EventLoggerConfig& config);

struct EventLoggerStats {
  std::atomic<std::uint64_t> written{0};     // lines appended
  std::atomic<std::uint64_t> duplicates{0};  // acked without writing (id already in the log)
  std::atomic<std::uint64_t> rejected{0};    // malformed, dead-lettered
  std::atomic<std::uint64_t> acked{0};       // deliveries acked (written + duplicates)
  std::atomic<std::uint64_t> batches{0};     // fsynced batches
  std::atomic<std::uint64_t> connects{0};    // consumer connections established
  std::atomic<std::uint64_t> backfilled{0};  // lines taken from Kafka (the fanout missed them)
};

class EventLogger {
 public:
  explicit EventLogger(EventLoggerConfig config) : config_(std::move(config)) {}

  // Runs until `stop` returns true (polled at least every 200 ms): opens the audit log, declares
  // the topology, consumes in batches (write, fsync, then one multiple-ack), reconnects with
  // backoff when RabbitMQ or the disk fails (ready() false meanwhile). Between batches, and while
  // RabbitMQ is unreachable, the Kafka backfill appends what the fanout missed. On stop: the batch
  // in hand is written, fsynced and acked, the consumer is cancelled and the connection closed
  // (unacked deliveries go back to the queue). Never returns early on errors.
  void Run(const std::function<bool()>& stop);

  // Audit log open and consumer connected.
  [[nodiscard]] bool ready() const noexcept { return ready_.load(); }
  [[nodiscard]] const EventLoggerStats& stats() const noexcept { return stats_; }
  [[nodiscard]] const EventLoggerConfig& config() const noexcept { return config_; }

 private:
  EventLoggerConfig config_;
  std::atomic<bool> ready_{false};
  EventLoggerStats stats_;
};

// The whole service (main): StopSignal, JSON logging, config (all problems at once, exit 2),
// health endpoint (/healthz, /readyz) when HEALTH_PORT > 0, EventLogger::Run. Exit 0 on SIGTERM.
int RunEventLoggerService();

}  // namespace chansum::event_logger
