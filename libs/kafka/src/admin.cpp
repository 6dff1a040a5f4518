#include "chansum/kafka/admin.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "internal.hpp"

namespace chansum::kafka {
namespace {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct OptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using Queue = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using Options = std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter>;
using Event = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

Result<Handle> NewAdminHandle(const KafkaConfig& config) {
  internal::ConfHolder conf;
  if (auto s = internal::ApplyCommon(conf, config); !s.ok()) return std::move(s).error();
  if (auto s = internal::ApplyExtra(conf, config); !s.ok()) return std::move(s).error();
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    return Error::Permanent("config", std::string("creating Kafka admin client: ") + errstr);
  }
  conf.release();
  return Handle(rk);
}

int TimeoutMs(const KafkaConfig& config) {
  const auto ms = config.message_timeout.count() > 0 ? config.message_timeout.count() : 30000;
  return static_cast<int>(std::clamp<std::int64_t>(ms, 1000, 300000));
}

Result<Options> NewOptions(rd_kafka_t* rk, rd_kafka_admin_op_t op, int timeout_ms) {
  Options opts(rd_kafka_AdminOptions_new(rk, op));
  char errstr[512] = {0};
  if (rd_kafka_AdminOptions_set_request_timeout(opts.get(), timeout_ms, errstr, sizeof errstr) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_AdminOptions_set_operation_timeout(opts.get(), timeout_ms, errstr, sizeof errstr) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Error::Permanent("config", std::string("admin options: ") + errstr);
  }
  return opts;
}

// Waits for the admin result event of `type` on `queue`.
Result<Event> WaitResult(rd_kafka_queue_t* queue, rd_kafka_event_type_t type, int timeout_ms,
                         const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    Event ev(rd_kafka_queue_poll(queue, static_cast<int>(left.count())));
    if (!ev) continue;
    if (rd_kafka_event_type(ev.get()) != type) continue;  // unrelated event (error/log)
    if (const auto err = rd_kafka_event_error(ev.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Error e = internal::FromKafkaError(err, what);
      e.message += std::string(" (") + rd_kafka_event_error_string(ev.get()) + ")";
      return e;
    }
    return ev;
  }
  return Error::Transient(
      "timeout", what + ": no answer from Kafka within " + std::to_string(timeout_ms) + " ms");
}

Status CheckTopicResults(const rd_kafka_topic_result_t** results, size_t count,
                         rd_kafka_resp_err_t ignore, const std::string& what) {
  for (size_t i = 0; i < count; ++i) {
    const auto err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == ignore) continue;
    Error e = internal::FromKafkaError(err, what + " " + rd_kafka_topic_result_name(results[i]));
    if (const char* msg = rd_kafka_topic_result_error_string(results[i]); msg != nullptr) {
      e.message += std::string(" (") + msg + ")";
    }
    return e;
  }
  return OkStatus();
}

}  // namespace

Status CreateTopics(const KafkaConfig& config, const std::vector<std::string>& topics,
                    int partitions, int replication) {
  if (topics.empty()) return OkStatus();
  if (partitions < 1 || replication < 1) {
    return Error::Permanent("invalid_argument", "partitions and replication must be >= 1");
  }
  auto rk = NewAdminHandle(config);
  if (!rk.ok()) return std::move(rk).error();
  const int timeout_ms = TimeoutMs(config);
  auto opts = NewOptions(rk->get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
  if (!opts.ok()) return std::move(opts).error();

  std::vector<rd_kafka_NewTopic_t*> new_topics;
  Status built = OkStatus();
  for (const auto& name : topics) {
    char errstr[512] = {0};
    rd_kafka_NewTopic_t* t =
        rd_kafka_NewTopic_new(name.c_str(), partitions, replication, errstr, sizeof errstr);
    if (t == nullptr) {
      built = Error::Permanent("invalid_argument", "topic " + name + ": " + errstr);
      break;
    }
    new_topics.push_back(t);
  }
  Status result = built;
  if (built.ok()) {
    Queue queue(rd_kafka_queue_new(rk->get()));
    rd_kafka_CreateTopics(rk->get(), new_topics.data(), new_topics.size(), opts->get(),
                          queue.get());
    auto ev = WaitResult(queue.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout_ms + 1000,
                         "creating Kafka topics");
    if (!ev.ok()) {
      result = std::move(ev).error();
    } else {
      const auto* res = rd_kafka_event_CreateTopics_result(ev->get());
      size_t count = 0;
      const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &count);
      result = CheckTopicResults(results, count, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
                                 "creating topic");
    }
  }
  rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
  if (result.ok()) {
    spdlog::info("kafka topics ensured: {} topic(s), {} partition(s), replication {}",
                 topics.size(), partitions, replication);
  }
  return result;
}

Status DeleteTopics(const KafkaConfig& config, const std::vector<std::string>& topics) {
  if (topics.empty()) return OkStatus();
  auto rk = NewAdminHandle(config);
  if (!rk.ok()) return std::move(rk).error();
  const int timeout_ms = TimeoutMs(config);
  auto opts = NewOptions(rk->get(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms);
  if (!opts.ok()) return std::move(opts).error();
  std::vector<rd_kafka_DeleteTopic_t*> del;
  for (const auto& name : topics) del.push_back(rd_kafka_DeleteTopic_new(name.c_str()));
  Queue queue(rd_kafka_queue_new(rk->get()));
  rd_kafka_DeleteTopics(rk->get(), del.data(), del.size(), opts->get(), queue.get());
  rd_kafka_DeleteTopic_destroy_array(del.data(), del.size());
  auto ev = WaitResult(queue.get(), RD_KAFKA_EVENT_DELETETOPICS_RESULT, timeout_ms + 1000,
                       "deleting Kafka topics");
  if (!ev.ok()) return std::move(ev).error();
  const auto* res = rd_kafka_event_DeleteTopics_result(ev->get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_DeleteTopics_result_topics(res, &count);
  return CheckTopicResults(results, count, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                           "deleting topic");
}

}  // namespace chansum::kafka
