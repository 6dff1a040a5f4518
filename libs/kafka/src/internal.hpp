#pragma once
// Shared helpers for the librdkafka wrappers (not part of the public API).
#include <string>

#include <librdkafka/rdkafka.h>

#include "chansum/common/result.hpp"
#include "chansum/kafka/config.hpp"

namespace chansum::kafka::internal {

// Maps a librdkafka error code to an Error. Connectivity, timeouts, full queues and coordinator
// churn are transient; bad arguments, sizes, authorization and fatal producer errors permanent.
[[nodiscard]] Error FromKafkaError(rd_kafka_resp_err_t err, const std::string& context);
[[nodiscard]] bool IsTransient(rd_kafka_resp_err_t err) noexcept;

// Owns a rd_kafka_conf_t until it is handed to rd_kafka_new.
class ConfHolder {
 public:
  ConfHolder() : conf_(rd_kafka_conf_new()) {}
  ~ConfHolder() {
    if (conf_ != nullptr) rd_kafka_conf_destroy(conf_);
  }
  ConfHolder(const ConfHolder&) = delete;
  ConfHolder& operator=(const ConfHolder&) = delete;

  [[nodiscard]] rd_kafka_conf_t* get() const noexcept { return conf_; }
  // Gives up ownership (rd_kafka_new took it).
  rd_kafka_conf_t* release() noexcept {
    rd_kafka_conf_t* c = conf_;
    conf_ = nullptr;
    return c;
  }
  // Permanent "config" error when librdkafka rejects the property.
  [[nodiscard]] Status Set(const std::string& name, const std::string& value);

 private:
  rd_kafka_conf_t* conf_;
};

// Sets bootstrap.servers, client.id, a spdlog log callback and config.extra (applied last by
// ApplyExtra, so that callers can set their own defaults in between).
[[nodiscard]] Status ApplyCommon(ConfHolder& conf, const KafkaConfig& config);
[[nodiscard]] Status ApplyExtra(ConfHolder& conf, const KafkaConfig& config);

}  // namespace chansum::kafka::internal
