#pragma once
// One idempotent Kafka producer per process (librdkafka producers are thread-safe).
//
// acks=all and enable.idempotence=true: a message counts as sent only when its delivery report
// says the broker persisted it. Produce() is asynchronous: it queues the message locally and the
// callback runs later with the outcome — mark outbox rows as their reports arrive rather than
// waiting per message (linger.ms makes each wait cost ~linger). A broker that is down first fills
// the local queue (Produce returns a transient "queue_full" error; nothing is dropped silently)
// and then times queued messages out after KAFKA_MESSAGE_TIMEOUT (failed delivery report).
//
// Before exit call Flush() (the destructor also flushes for up to message_timeout and then
// reports whatever is still queued as failed), otherwise queued messages are lost.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chansum/common/result.hpp"
#include "chansum/kafka/config.hpp"

typedef struct rd_kafka_s rd_kafka_t;  // NOLINT: librdkafka's opaque handle

namespace chansum::kafka {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct DeliveryReport {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;  // -1 when not persisted
  std::string key;
  Status status = OkStatus();  // OK = persisted by the broker (acks=all); otherwise why not

  [[nodiscard]] bool persisted() const noexcept { return status.ok(); }
};

using DeliveryCallback = std::function<void(const DeliveryReport&)>;

struct ProducerOptions {
  // Serve delivery reports on a background thread (callbacks then run on that thread). When
  // false, the caller must call Poll() regularly (Flush and ProduceSync poll too).
  bool background_poll = true;
};

class Producer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Producer>> Create(const KafkaConfig& config,
                                                                ProducerOptions options = {});
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues one message. On OK, `on_report` runs exactly once later (from Poll/Flush or the
  // background thread) with the outcome. On error (e.g. transient "queue_full") the message was
  // not queued and `on_report` is never called. Thread-safe. Callbacks must not throw (an
  // exception is caught and logged).
  [[nodiscard]] Status Produce(const std::string& topic, const std::string& key,
                               const std::string& payload, DeliveryCallback on_report,
                               const Headers& headers = {});

  // Serves queued delivery reports for up to `timeout`; returns how many events were served.
  int Poll(std::chrono::milliseconds timeout);

  // Waits until every queued message has its report (persisted or failed). Transient "flush"
  // error when messages remain after `timeout`.
  [[nodiscard]] Status Flush(std::chrono::milliseconds timeout);

  // Produces one message and waits for its own report (convenience for rare writes; costs about
  // linger.ms per call). Transient "timeout" if no report within `timeout` — the message may
  // still be delivered later (at least once).
  [[nodiscard]] Status ProduceSync(const std::string& topic, const std::string& key,
                                   const std::string& payload, std::chrono::milliseconds timeout,
                                   const Headers& headers = {});

  // Messages queued or in flight whose report has not been served yet.
  [[nodiscard]] int OutstandingCount() const;
  // True after a fatal (idempotence) error: this producer can no longer deliver; build a new one.
  [[nodiscard]] bool Fatal() const noexcept;

 private:
  struct State;
  Producer(rd_kafka_t* rk, std::unique_ptr<State> state, const KafkaConfig& config,
           ProducerOptions options);

  rd_kafka_t* rk_;
  std::unique_ptr<State> state_;
  std::chrono::milliseconds close_timeout_;
  ProducerOptions options_;
};

}  // namespace chansum::kafka
