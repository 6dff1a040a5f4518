#include "chansum/outbox/kafka_sink.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "chansum/kafka/admin.hpp"

namespace chansum::outbox {
namespace {

// Reports of one batch; shared with the delivery callbacks, which may outlive a Publish that gave
// up waiting.
struct BatchState {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t outstanding = 0;
  std::size_t failed = 0;
  std::optional<Error> first_failure;
  std::vector<bool> persisted;  // per row of the batch, from its delivery report
};

kafka::Headers ToKafkaHeaders(const nlohmann::json& headers) {
  kafka::Headers out;
  if (!headers.is_object()) return out;
  for (const auto& [k, v] : headers.items()) {
    out.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

}  // namespace

KafkaSink::KafkaSink(kafka::KafkaConfig config, KafkaSinkOptions options)
    : config_(std::move(config)), options_(std::move(options)) {}

KafkaSink::~KafkaSink() = default;

void KafkaSink::Reset() {
  if (producer_ && producer_->Fatal()) producer_.reset();
}

Status KafkaSink::EnsureReady() {
  if (!topics_created_ && !options_.topics.empty()) {
    // Bounded so that a Kafka outage at start keeps the relay responsive (it retries with
    // backoff) instead of blocking it for the whole message timeout.
    kafka::KafkaConfig admin = config_;
    const std::chrono::milliseconds cap{10000};
    admin.message_timeout =
        admin.message_timeout.count() > 0 ? std::min(admin.message_timeout, cap) : cap;
    auto st =
        kafka::CreateTopics(admin, options_.topics, options_.partitions, options_.replication);
    if (!st.ok()) {
      return Error::Transient("kafka_topics",
                              "cannot create the event topics: " + st.error().message);
    }
    topics_created_ = true;
    spdlog::info("kafka sink: {} topics ready ({} partitions)", options_.topics.size(),
                 options_.partitions);
  }
  if (producer_ && producer_->Fatal()) {
    spdlog::warn("kafka sink: producer hit a fatal error, creating a new one");
    producer_.reset();
  }
  if (!producer_) {
    auto p = kafka::Producer::Create(config_);
    if (!p.ok()) return std::move(p).error();
    producer_ = std::move(*p);
  }
  return OkStatus();
}

Status KafkaSink::Publish(const std::vector<Row>& rows, std::vector<bool>& delivered) {
  if (rows.empty()) return OkStatus();
  if (auto st = EnsureReady(); !st.ok()) return st;

  auto batch = std::make_shared<BatchState>();
  batch->persisted.assign(rows.size(), false);
  std::optional<Error> not_queued;
  std::size_t queued = 0;
  for (std::size_t index = 0; index < rows.size(); ++index) {
    const auto& m = rows[index].message;
    {
      std::lock_guard lock(batch->mu);
      ++batch->outstanding;
    }
    auto st = producer_->Produce(
        m.exchange, m.routing_key, m.payload,
        [batch, index](const kafka::DeliveryReport& report) {
          std::lock_guard lock(batch->mu);
          --batch->outstanding;
          batch->persisted[index] = report.persisted();
          if (!report.persisted()) {
            ++batch->failed;
            if (!batch->first_failure) {
              batch->first_failure = Wrapped(report.status.error(), "topic " + report.topic);
            }
          }
          batch->cv.notify_all();
        },
        ToKafkaHeaders(m.headers));
    if (!st.ok()) {
      std::lock_guard lock(batch->mu);
      --batch->outstanding;
      not_queued = st.error();
      break;
    }
    ++queued;
  }
  if (not_queued) {
    // What was queued may still be delivered: those rows are produced again later (duplicates
    // are fine, consumers dedupe by event_id).
    Error e = *not_queued;
    e.message = "kafka: row " + std::to_string(queued + 1) + " of " + std::to_string(rows.size()) +
                " not queued: " + e.message;
    return e;
  }

  const auto timeout = (config_.message_timeout.count() > 0 ? config_.message_timeout
                                                            : std::chrono::milliseconds(60000)) +
                       options_.report_margin;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<std::chrono::steady_clock::time_point> stop_deadline;
  std::unique_lock lock(batch->mu);
  // Whatever happens below, report the rows whose delivery reports said persisted.
  struct CopyOut {
    const BatchState& batch;
    std::vector<bool>& delivered;
    ~CopyOut() {
      for (std::size_t i = 0; i < delivered.size() && i < batch.persisted.size(); ++i) {
        delivered[i] = batch.persisted[i];
      }
    }
  } copy_out{*batch, delivered};
  while (batch->outstanding > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error::Transient("kafka_delivery_timeout",
                              std::to_string(batch->outstanding) + " of " +
                                  std::to_string(rows.size()) + " delivery reports missing after " +
                                  std::to_string(timeout.count()) + " ms");
    }
    if (!stop_deadline && options_.should_stop && options_.should_stop()) {
      // Shutting down: reports of a healthy broker arrive within moments; don't wait for more.
      stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    }
    if (stop_deadline && std::chrono::steady_clock::now() >= *stop_deadline) {
      return Error::Transient("stopping", "shutting down before every delivery report arrived");
    }
    batch->cv.wait_for(lock, std::chrono::milliseconds(100));
  }
  if (batch->first_failure) {
    Error e = *batch->first_failure;
    e.message = std::to_string(batch->failed) + " of " + std::to_string(rows.size()) +
                " messages not delivered; first: " + e.message;
    return e;
  }
  return OkStatus();
}

}  // namespace chansum::outbox
