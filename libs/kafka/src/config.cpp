#include "chansum/kafka/config.hpp"

namespace chansum::kafka {

KafkaConfig KafkaConfig::FromEnv(ConfigReader& env, const std::string& service_name) {
  KafkaConfig c;
  c.brokers =
      env.RequireString("KAFKA_BROKERS", "comma-separated Kafka bootstrap servers host:port");
  c.client_id = env.String("KAFKA_CLIENT_ID", service_name.empty() ? "chansum" : service_name);
  c.message_timeout = env.Duration("KAFKA_MESSAGE_TIMEOUT", std::chrono::seconds(30));
  c.linger_ms = static_cast<int>(env.Int("KAFKA_LINGER_MS", 5, 0, 900000));
  return c;
}

}  // namespace chansum::kafka
