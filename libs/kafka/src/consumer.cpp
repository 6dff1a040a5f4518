#include "chansum/kafka/consumer.hpp"

#include <algorithm>
#include <cstring>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "internal.hpp"

namespace chansum::kafka {

struct Consumer::State {
  std::string group_id;
  mutable std::mutex mu;
  std::vector<TopicPartition> assignment;  // guarded by mu
  std::optional<Error> pending_error;      // guarded by mu; returned by the next Poll
};

namespace {

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* parts) {
  std::vector<TopicPartition> out;
  if (parts == nullptr) return out;
  for (int i = 0; i < parts->cnt; ++i)
    out.emplace_back(parts->elems[i].topic, parts->elems[i].partition);
  return out;
}

std::string Describe(const std::vector<TopicPartition>& parts) {
  std::string s;
  for (const auto& [topic, partition] : parts) {
    if (!s.empty()) s += ",";
    s += topic + "[" + std::to_string(partition) + "]";
  }
  return s.empty() ? "(none)" : s;
}

void LogIfError(rd_kafka_error_t* error, const char* what) {
  if (error == nullptr) return;
  spdlog::error("kafka {}: {}", what, rd_kafka_error_string(error));
  rd_kafka_error_destroy(error);
}

// Runs inside rd_kafka_consumer_poll / rd_kafka_consumer_close on the polling thread.
void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* state = static_cast<Consumer::State*>(opaque);  // NOLINT: set in Create
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  const auto changed = ToVector(parts);
  std::vector<TopicPartition> now;
  {
    std::lock_guard lock(state->mu);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (cooperative) {
        LogIfError(rd_kafka_incremental_assign(rk, parts), "incremental assign");
        state->assignment.insert(state->assignment.end(), changed.begin(), changed.end());
      } else {
        if (auto e = rd_kafka_assign(rk, parts); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
          spdlog::error("kafka assign: {}", rd_kafka_err2str(e));
        }
        state->assignment = changed;
      }
    } else {
      if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        spdlog::error("kafka rebalance error in group {}: {}", state->group_id,
                      rd_kafka_err2str(err));
      }
      if (rd_kafka_assignment_lost(rk)) {
        spdlog::warn("kafka group {}: assignment lost (uncommitted records will be redelivered)",
                     state->group_id);
      }
      if (cooperative && err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        LogIfError(rd_kafka_incremental_unassign(rk, parts), "incremental unassign");
        std::erase_if(state->assignment, [&](const TopicPartition& tp) {
          return std::find(changed.begin(), changed.end(), tp) != changed.end();
        });
      } else {
        rd_kafka_assign(rk, nullptr);
        state->assignment.clear();
      }
    }
    std::sort(state->assignment.begin(), state->assignment.end());
    now = state->assignment;
  }
  spdlog::info("kafka group {} rebalance ({}): {} {}; assignment now {}", state->group_id,
               rd_kafka_rebalance_protocol(rk),
               err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assigned" : "revoked",
               Describe(changed), Describe(now));
}

// Client-level errors. Most (a single broker connection dropping) heal on their own and are only
// logged; "all brokers down", authentication and fatal errors are handed to the next Poll() so a
// dead cluster never looks like an idle topic.
void ErrorCallback(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  auto* state = static_cast<Consumer::State*>(opaque);  // NOLINT: set in Create
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  spdlog::warn("kafka consumer (group {}): {}: {}", state->group_id, rd_kafka_err2name(code),
               reason);
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
      code == RD_KAFKA_RESP_ERR__FATAL) {
    std::lock_guard lock(state->mu);
    state->pending_error = internal::FromKafkaError(code, std::string("kafka client: ") + reason);
  }
}

}  // namespace

Result<std::unique_ptr<Consumer>> Consumer::Create(const KafkaConfig& config,
                                                   ConsumerOptions options) {
  if (options.group_id.empty()) {
    return Error::Permanent("config", "Kafka consumer needs a group id");
  }
  if (options.auto_offset_reset != "earliest" && options.auto_offset_reset != "latest") {
    return Error::Permanent("config", "auto_offset_reset must be earliest or latest, not \"" +
                                          options.auto_offset_reset + "\"");
  }
  internal::ConfHolder conf;
  if (auto s = internal::ApplyCommon(conf, config); !s.ok()) return std::move(s).error();
  const std::pair<const char*, std::string> props[] = {
      {"group.id", options.group_id},
      {"enable.auto.commit", "false"},
      {"auto.offset.reset", options.auto_offset_reset},
      {"session.timeout.ms", std::to_string(options.session_timeout.count())},
      {"enable.partition.eof", "false"},
  };
  for (const auto& [name, value] : props) {
    if (auto s = conf.Set(name, value); !s.ok()) return std::move(s).error();
  }
  if (auto s = internal::ApplyExtra(conf, config); !s.ok()) return std::move(s).error();

  auto state = std::make_unique<State>();
  state->group_id = options.group_id;
  rd_kafka_conf_set_rebalance_cb(conf.get(), RebalanceCallback);
  rd_kafka_conf_set_opaque(conf.get(), state.get());
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);

  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    return Error::Permanent("config", std::string("creating Kafka consumer: ") + errstr);
  }
  conf.release();
  rd_kafka_poll_set_consumer(rk);  // one queue: Poll() serves rebalances, errors and records
  return std::unique_ptr<Consumer>(new Consumer(rk, std::move(state)));
}

Consumer::Consumer(rd_kafka_t* rk, std::unique_ptr<State> state)
    : rk_(rk), state_(std::move(state)) {}

Consumer::~Consumer() {
  if (auto s = Close(); !s.ok()) spdlog::warn("kafka consumer close: {}", s.error().message);
  rd_kafka_destroy(rk_);
}

Status Consumer::Subscribe(const std::vector<std::string>& topics) {
  if (closed_) return Error::Permanent("closed", "Kafka consumer is closed");
  if (topics.empty()) return Error::Permanent("invalid_argument", "no topics to subscribe to");
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
  for (const auto& t : topics)
    rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return internal::FromKafkaError(err, "subscribing");
  return OkStatus();
}

Status Consumer::Ping(std::chrono::milliseconds timeout) {
  if (closed_) return Error::Permanent("closed", "Kafka consumer is closed");
  const int ms = static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 1, 3600 * 1000));
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, nullptr, &md, ms);
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return internal::FromKafkaError(err, "metadata request");
  return OkStatus();
}

Result<std::optional<Record>> Consumer::Poll(std::chrono::milliseconds timeout) {
  if (closed_) return Error::Permanent("closed", "Kafka consumer is closed");
  const int ms = static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 0, 3600 * 1000));
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, ms);
  if (m == nullptr) {
    std::lock_guard lock(state_->mu);
    if (state_->pending_error) {
      Error e = std::move(*state_->pending_error);
      state_->pending_error.reset();
      return e;
    }
    return std::optional<Record>{};
  }
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const rd_kafka_resp_err_t err = m->err;
    std::string what = rd_kafka_message_errstr(m);
    if (m->rkt != nullptr) what = std::string(rd_kafka_topic_name(m->rkt)) + ": " + what;
    rd_kafka_message_destroy(m);
    if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return std::optional<Record>{};
    return internal::FromKafkaError(err, "consuming (" + what + ")");
  }
  Record r;
  r.topic = rd_kafka_topic_name(m->rkt);
  r.partition = m->partition;
  r.offset = m->offset;
  if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) r.payload.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_timestamp_type_t ts_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  r.timestamp_ms = rd_kafka_message_timestamp(m, &ts_type);
  if (ts_type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) r.timestamp_ms = -1;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != nullptr) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      r.headers.emplace_back(name, value != nullptr
                                       ? std::string(static_cast<const char*>(value), size)
                                       : std::string());
    }
  }
  rd_kafka_message_destroy(m);
  return std::optional<Record>(std::move(r));
}

Status Consumer::Commit(const Record& record) {
  if (closed_) return Error::Permanent("closed", "Kafka consumer is closed");
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, record.topic.c_str(), record.partition)->offset =
      record.offset + 1;
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, 0 /* sync */);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    err = list->elems[0].err;
  }
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return internal::FromKafkaError(err, "committing " + record.topic + "[" +
                                             std::to_string(record.partition) + "]@" +
                                             std::to_string(record.offset + 1));
  }
  return OkStatus();
}

Status Consumer::CommitAll() {
  if (closed_) return Error::Permanent("closed", "Kafka consumer is closed");
  const rd_kafka_resp_err_t err = rd_kafka_commit(rk_, nullptr, 0 /* sync */);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return OkStatus();
  return internal::FromKafkaError(err, "committing consumed offsets");
}

std::vector<TopicPartition> Consumer::Assignment() const {
  std::lock_guard lock(state_->mu);
  return state_->assignment;
}

Status Consumer::Close() {
  if (closed_) return OkStatus();
  closed_ = true;
  const rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_);
  {
    std::lock_guard lock(state_->mu);
    state_->assignment.clear();
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return internal::FromKafkaError(err, "closing consumer");
  return OkStatus();
}

}  // namespace chansum::kafka
