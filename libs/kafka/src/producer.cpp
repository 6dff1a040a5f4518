#include "chansum/kafka/producer.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "internal.hpp"

namespace chansum::kafka {

struct Producer::State {
  std::atomic<bool> stop{false};
  std::atomic<bool> fatal{false};
  std::thread poller;
};

namespace {

using Clock = std::chrono::steady_clock;

int ToMs(std::chrono::milliseconds d) {
  return static_cast<int>(std::clamp<std::int64_t>(d.count(), 0, 24LL * 3600 * 1000));
}

// Runs on whichever thread serves the queue (Poll/Flush caller or the background poller).
void DeliveryReportCallback(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* /*opaque*/) {
  auto* cb = static_cast<DeliveryCallback*>(m->_private);
  if (cb == nullptr) return;
  DeliveryReport report;
  report.topic = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "";
  report.partition = m->partition;
  if (m->key != nullptr) report.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    report.offset = m->offset;
  } else {
    report.status =
        internal::FromKafkaError(m->err, "delivery to topic " + report.topic + " failed");
  }
  try {
    (*cb)(report);
  } catch (const std::exception& e) {
    spdlog::error("kafka delivery callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("kafka delivery callback threw a non-standard exception");
  }
  delete cb;
}

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* fatal = static_cast<std::atomic<bool>*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512] = {0};
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    spdlog::critical("kafka producer fatal error {}: {}", rd_kafka_err2name(orig), buf);
    if (fatal != nullptr) fatal->store(true);
    return;
  }
  spdlog::warn("kafka producer: {}: {}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)),
               reason);
}

}  // namespace

Result<std::unique_ptr<Producer>> Producer::Create(const KafkaConfig& config,
                                                   ProducerOptions options) {
  internal::ConfHolder conf;
  if (auto s = internal::ApplyCommon(conf, config); !s.ok()) return std::move(s).error();
  const std::pair<const char*, std::string> props[] = {
      {"acks", "all"},
      {"enable.idempotence", "true"},
      {"message.timeout.ms", std::to_string(config.message_timeout.count())},
      {"linger.ms", std::to_string(config.linger_ms)},
      // Same key -> partition mapping as the Java client.
      {"partitioner", "murmur2_random"},
  };
  for (const auto& [name, value] : props) {
    if (auto s = conf.Set(name, value); !s.ok()) return std::move(s).error();
  }
  if (auto s = internal::ApplyExtra(conf, config); !s.ok()) return std::move(s).error();

  auto state = std::make_unique<State>();
  rd_kafka_conf_set_dr_msg_cb(conf.get(), DeliveryReportCallback);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  rd_kafka_conf_set_opaque(conf.get(), &state->fatal);

  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    return Error::Permanent("config", std::string("creating Kafka producer: ") + errstr);
  }
  conf.release();  // owned by rk now
  return std::unique_ptr<Producer>(new Producer(rk, std::move(state), config, options));
}

Producer::Producer(rd_kafka_t* rk, std::unique_ptr<State> state, const KafkaConfig& config,
                   ProducerOptions options)
    : rk_(rk),
      state_(std::move(state)),
      close_timeout_(config.message_timeout.count() > 0 ? config.message_timeout
                                                        : std::chrono::milliseconds(30000)),
      options_(options) {
  if (options_.background_poll) {
    state_->poller = std::thread([rk = rk_, st = state_.get()] {
      while (!st->stop.load()) rd_kafka_poll(rk, 100);
    });
  }
}

Producer::~Producer() {
  if (auto s = Flush(close_timeout_); !s.ok()) {
    spdlog::error("kafka producer closing with undelivered messages: {}", s.error().message);
  }
  state_->stop.store(true);
  if (state_->poller.joinable()) state_->poller.join();
  // Whatever is still queued gets a failed report (purged) so no caller waits forever and no
  // callback leaks.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (rd_kafka_outq_len(rk_) > 0 && Clock::now() < deadline) rd_kafka_poll(rk_, 50);
  rd_kafka_destroy(rk_);
}

Status Producer::Produce(const std::string& topic, const std::string& key,
                         const std::string& payload, DeliveryCallback on_report,
                         const Headers& headers) {
  if (topic.empty()) return Error::Permanent("invalid_argument", "Kafka topic is empty");
  if (state_->fatal.load()) {
    return Error::Transient("producer_fatal",
                            "Kafka producer hit a fatal error; it must be recreated");
  }
  rd_kafka_headers_t* hdrs = nullptr;
  if (!headers.empty()) {
    hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& [name, value] : headers) {
      rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
  }
  auto* cb = new DeliveryCallback(on_report ? std::move(on_report)
                                            : DeliveryCallback([](const DeliveryReport&) {}));
  const void* key_ptr = key.empty() ? nullptr : key.data();
  rd_kafka_resp_err_t err;
  if (hdrs != nullptr) {
    err =
        rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key_ptr, key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                          RD_KAFKA_V_OPAQUE(cb), RD_KAFKA_V_END);
  } else {
    err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key_ptr, key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(cb), RD_KAFKA_V_END);
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    delete cb;
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);  // not taken over on failure
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return Error::Transient("queue_full",
                              "Kafka local producer queue is full (broker slow or down); retry "
                              "after polling delivery reports");
    }
    return internal::FromKafkaError(err, "producing to topic " + topic);
  }
  return OkStatus();
}

int Producer::Poll(std::chrono::milliseconds timeout) { return rd_kafka_poll(rk_, ToMs(timeout)); }

Status Producer::Flush(std::chrono::milliseconds timeout) {
  rd_kafka_flush(rk_, ToMs(timeout));
  // flush() returns when the queue is empty, but the report of the last message may still be
  // waiting to be served: serve it so that "flushed" means every callback has run.
  const auto deadline = Clock::now() + timeout;
  while (rd_kafka_outq_len(rk_) > 0 && Clock::now() < deadline) rd_kafka_poll(rk_, 10);
  rd_kafka_poll(rk_, 0);
  const int left = rd_kafka_outq_len(rk_);
  if (left > 0) {
    return Error::Transient(
        "flush", std::to_string(left) + " Kafka message(s) still undelivered after flush");
  }
  return OkStatus();
}

Status Producer::ProduceSync(const std::string& topic, const std::string& key,
                             const std::string& payload, std::chrono::milliseconds timeout,
                             const Headers& headers) {
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status status = OkStatus();
  };
  auto waiter = std::make_shared<Waiter>();
  auto produced = Produce(
      topic, key, payload,
      [waiter](const DeliveryReport& report) {
        std::lock_guard lock(waiter->mu);
        waiter->done = true;
        waiter->status = report.status;
        waiter->cv.notify_all();
      },
      headers);
  if (!produced.ok()) return produced;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    {
      std::unique_lock lock(waiter->mu);
      if (waiter->done) return waiter->status;
      const auto now = Clock::now();
      if (now >= deadline) break;
      if (options_.background_poll) {
        waiter->cv.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(100)));
        continue;
      }
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    rd_kafka_poll(
        rk_, ToMs(std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(50))));
  }
  return Error::Transient("timeout", "no Kafka delivery report for topic " + topic + " within " +
                                         std::to_string(timeout.count()) + " ms");
}

int Producer::OutstandingCount() const { return rd_kafka_outq_len(rk_); }

bool Producer::Fatal() const noexcept { return state_->fatal.load(); }

}  // namespace chansum::kafka
