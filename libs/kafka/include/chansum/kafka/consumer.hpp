#pragma once
// A Kafka consumer in a consumer group with manual commits (enable.auto.commit=false): process
// a record, then Commit() it. A record whose offset was not committed is delivered again after a
// restart or rebalance (at least once — handlers deduplicate).
//
// Poll() and Commit() belong to one thread (the rebalance callback runs inside Poll()).
// Assignment() may be called from any thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chansum/common/result.hpp"
#include "chansum/kafka/config.hpp"
#include "chansum/kafka/producer.hpp"  // Headers

typedef struct rd_kafka_s rd_kafka_t;  // NOLINT: librdkafka's opaque handle

namespace chansum::kafka {

struct ConsumerOptions {
  std::string group_id;                        // required
  std::string auto_offset_reset = "earliest";  // earliest|latest: where a new group starts
  // Broker-side liveness: a member silent this long is removed from the group.
  std::chrono::milliseconds session_timeout{45000};
};

struct Record {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;
  std::string payload;
  std::int64_t timestamp_ms = -1;  // producer create time (ms since epoch), -1 when unknown
  Headers headers;
};

using TopicPartition = std::pair<std::string, int>;

class Consumer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Consumer>> Create(const KafkaConfig& config,
                                                                ConsumerOptions options);
  // Close()s if not yet closed.
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Replaces the subscription; partitions arrive through a rebalance during later Poll()s.
  [[nodiscard]] Status Subscribe(const std::vector<std::string>& topics);

  // Waits up to `timeout` for one record: nullopt when none arrived. Errors come back as Error
  // values: consumer errors (e.g. UNKNOWN_TOPIC_OR_PART right after a topic was created) and
  // client errors that need attention (all brokers down, authentication, fatal) — transient ones
  // mean "back off and poll again".
  [[nodiscard]] Result<std::optional<Record>> Poll(std::chrono::milliseconds timeout);

  // Synchronously commits offset+1 for the record's partition (everything up to and including
  // the record is done).
  [[nodiscard]] Status Commit(const Record& record);
  // Synchronously commits the position of every assigned partition (all records returned by
  // Poll so far). Nothing to commit counts as success.
  [[nodiscard]] Status CommitAll();

  // Asks a broker for cluster metadata within `timeout` (a round trip on this client's own
  // connections): an error when no broker answers. librdkafka reports a dead cluster to Poll()
  // late or not at all, so a consumer that must know (readiness) asks now and then while idle.
  // Same thread as Poll().
  [[nodiscard]] Status Ping(std::chrono::milliseconds timeout);

  // Partitions currently assigned to this member, sorted.
  [[nodiscard]] std::vector<TopicPartition> Assignment() const;

  // Leaves the group (revoking partitions so another member takes them at once). Idempotent.
  Status Close();

  struct State;  // implementation detail (shared with the rebalance callback)

 private:
  Consumer(rd_kafka_t* rk, std::unique_ptr<State> state);

  rd_kafka_t* rk_;
  std::unique_ptr<State> state_;
  bool closed_ = false;
};

}  // namespace chansum::kafka
