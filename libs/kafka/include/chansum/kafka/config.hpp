#pragma once
// Kafka client settings, read from the environment:
//   KAFKA_BROKERS          required, comma-separated host:port list (bootstrap.servers)
//   KAFKA_CLIENT_ID        client.id, default: the service name
//   KAFKA_MESSAGE_TIMEOUT  how long a produced message may wait for delivery before its report
//                          says it failed (message.timeout.ms), default 30s; 0 means
//                          no limit (not recommended: a dead broker then never surfaces)
//   KAFKA_LINGER_MS        producer batching delay (linger.ms), default 5
#include <chrono>
#include <map>
#include <string>

#include "chansum/common/config.hpp"

namespace chansum::kafka {

struct KafkaConfig {
  std::string brokers;
  std::string client_id = "chansum";
  std::chrono::milliseconds message_timeout{30000};
  int linger_ms = 5;
  // Extra librdkafka properties applied last (tests and tuning, e.g. "socket.timeout.ms").
  std::map<std::string, std::string> extra;

  // Reads the variables above; problems are recorded in `env` (call env.Finish()).
  [[nodiscard]] static KafkaConfig FromEnv(ConfigReader& env, const std::string& service_name);
};

}  // namespace chansum::kafka
