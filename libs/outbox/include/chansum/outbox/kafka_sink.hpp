#pragma once
// Outbox sink for Kafka: produces a batch through one idempotent producer (acks=all) and waits for
// the delivery report of EVERY row of the batch — OK only when all say persisted. A row that could
// not be queued, a failed report or a report missing after the wait fails the whole batch: its
// rows stay pending and are produced again later (at least once; consumers dedupe by event_id).
// Before the first batch the sink creates its topics (idempotent); while Kafka is down that fails
// and the relay retries with backoff. A producer that turned fatal is replaced.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chansum/kafka/config.hpp"
#include "chansum/kafka/producer.hpp"
#include "chansum/outbox/outbox.hpp"

namespace chansum::outbox {

struct KafkaSinkOptions {
  std::vector<std::string> topics;  // created before the first batch (e.g. EventTopics(prefix))
  int partitions = 3;
  int replication = 1;
  // Longest wait for a batch's reports: KAFKA_MESSAGE_TIMEOUT (after which librdkafka reports a
  // message failed) plus this margin; 60 s plus the margin when the message timeout is unlimited.
  std::chrono::milliseconds report_margin{5000};
  // Cuts the wait short at shutdown: once true, reports get 2 more seconds, then the batch fails
  // and its rows stay pending.
  std::function<bool()> should_stop;
};

class KafkaSink final : public Sink {
 public:
  KafkaSink(kafka::KafkaConfig config, KafkaSinkOptions options);
  ~KafkaSink() override;
  [[nodiscard]] Status Publish(const std::vector<Row>& rows, std::vector<bool>& delivered) override;
  // Keeps a healthy producer (it reconnects by itself); drops a fatal one.
  void Reset() override;

  [[nodiscard]] bool topics_created() const noexcept { return topics_created_; }

 private:
  Status EnsureReady();

  kafka::KafkaConfig config_;
  KafkaSinkOptions options_;
  bool topics_created_ = false;
  std::unique_ptr<kafka::Producer> producer_;
};

}  // namespace chansum::outbox
