#pragma once
// The audit log's second source: the Kafka event topics.
//
// Every domain event goes out twice from the outbox, to Kafka and to the RabbitMQ fanout, by two
// independent relays. The fanout is event_logger's main source (acked ⇒ fsynced), but a fanout
// publish reaches only the queues bound and accepting at that moment: an event routed while the
// audit queue was not there, or dropped by the broker around a crash, would never reach the log.
// The backfill closes that gap: a Kafka consumer group ("<QUEUE_PREFIX>event-logger-backfill")
// reads the same events, and every record at least `delay` old (AUDIT_BACKFILL_DELAY, so the
// fanout normally writes it first) whose event_id the log does not hold yet is appended; its offset
// is committed only after the fsync. In normal operation everything it reads is a duplicate and it
// writes nothing; what it does write is counted (stats "backfilled", metric
// chansum_event_logger_events_total{result="backfilled"}).
//
// Step() never waits for Kafka: it takes what librdkafka has already fetched, so a dead Kafka
// slows nothing (errors are logged, at most once a minute, and the consumer is recreated after a
// backoff). Threading: Step() belongs to the thread that owns the AuditLog.
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "chansum/common/result.hpp"
#include "chansum/kafka/config.hpp"
#include "chansum/kafka/consumer.hpp"
#include "src/audit_log.hpp"

namespace chansum::event_logger {

struct BackfillConfig {
  kafka::KafkaConfig kafka;  // brokers empty ⇒ no backfill
  std::string group_id;
  std::vector<std::string> topics;
  std::chrono::milliseconds delay{30000};  // AUDIT_BACKFILL_DELAY
  std::size_t max_pending = 10000;         // records held while they age
  std::size_t max_batch = 1000;            // lines appended per Step

  [[nodiscard]] bool enabled() const noexcept { return !kafka.brokers.empty(); }
};

struct BackfillResult {
  std::size_t written = 0;     // lines the fanout had not delivered
  std::size_t duplicates = 0;  // records whose event was already in the log
  std::size_t malformed = 0;   // records without an identifiable event (skipped, committed)
};

class KafkaBackfill {
 public:
  explicit KafkaBackfill(BackfillConfig config);
  ~KafkaBackfill();
  KafkaBackfill(const KafkaBackfill&) = delete;
  KafkaBackfill& operator=(const KafkaBackfill&) = delete;

  // Takes the records librdkafka holds (without waiting), appends the aged ones missing from
  // `log`, commits them. An error only when the log write failed: the records stay pending and
  // are appended once the caller has reopened the log. Does nothing when not enabled().
  [[nodiscard]] Result<BackfillResult> Step(AuditLog& log);

  [[nodiscard]] const BackfillConfig& config() const noexcept { return config_; }
  [[nodiscard]] std::size_t pending() const noexcept { return pending_.size(); }

 private:
  struct Pending {
    kafka::Record record;
    std::chrono::system_clock::time_point due;  // when the fanout has had its chance
  };
  void Connect();
  void Fetch();
  void Trouble(const std::string& what);
  void CommitThrough(std::size_t count);

  BackfillConfig config_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::deque<Pending> pending_;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds retry_delay_{1000};
  std::chrono::steady_clock::time_point next_warning_{};
};

}  // namespace chansum::event_logger
