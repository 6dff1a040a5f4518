#include "internal.hpp"

#include <spdlog/spdlog.h>

namespace chansum::kafka::internal {
namespace {

void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const char* name = rk != nullptr ? rd_kafka_name(rk) : "rdkafka";
  // syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug
  if (level <= 3) {
    spdlog::error("librdkafka {} {}: {}", name, fac, buf);
  } else if (level == 4) {
    spdlog::warn("librdkafka {} {}: {}", name, fac, buf);
  } else if (level <= 6) {
    spdlog::info("librdkafka {} {}: {}", name, fac, buf);
  } else {
    spdlog::debug("librdkafka {} {}: {}", name, fac, buf);
  }
}

}  // namespace

bool IsTransient(rd_kafka_resp_err_t err) noexcept {
  switch (err) {
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__CONFLICT:
    case RD_KAFKA_RESP_ERR__INCONSISTENT:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED:
      return false;
    default:
      return true;
  }
}

Error FromKafkaError(rd_kafka_resp_err_t err, const std::string& context) {
  std::string message = context + ": " + rd_kafka_err2str(err);
  std::string code = rd_kafka_err2name(err);
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) code = "queue_full";
  if (err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) code = "message_timeout";
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) code = "timeout";
  return IsTransient(err) ? Error::Transient(std::move(code), std::move(message))
                          : Error::Permanent(std::move(code), std::move(message));
}

Status ConfHolder::Set(const std::string& name, const std::string& value) {
  char errstr[512] = {0};
  if (rd_kafka_conf_set(conf_, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    return Error::Permanent("config", "librdkafka property " + name + ": " + errstr);
  }
  return OkStatus();
}

Status ApplyCommon(ConfHolder& conf, const KafkaConfig& config) {
  if (config.brokers.empty()) {
    return Error::Permanent("config", "Kafka brokers (KAFKA_BROKERS) are empty");
  }
  if (auto s = conf.Set("bootstrap.servers", config.brokers); !s.ok()) return s;
  if (!config.client_id.empty()) {
    if (auto s = conf.Set("client.id", config.client_id); !s.ok()) return s;
  }
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  return OkStatus();
}

Status ApplyExtra(ConfHolder& conf, const KafkaConfig& config) {
  for (const auto& [name, value] : config.extra) {
    if (auto s = conf.Set(name, value); !s.ok()) return s;
  }
  return OkStatus();
}

}  // namespace chansum::kafka::internal
