#pragma once
// Connection settings for RabbitMQ, read from the environment:
//   AMQP_URL              required, amqp://user:password@host:port/vhost
//   AMQP_HEARTBEAT        heartbeat interval, default 30s (0 disables heartbeats)
//   AMQP_CONNECT_TIMEOUT  TCP connect + login handshake timeout, default 5s
//   AMQP_RPC_TIMEOUT      longest wait for a synchronous reply or a publisher confirm, default 30s
#include <chrono>
#include <string>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"

namespace chansum::amqp {

struct AmqpConfig {
  std::string url;  // as given; log only Redacted()
  std::string host = "localhost";
  int port = 5672;
  std::string vhost = "/";
  std::string user = "guest";
  std::string password = "guest";
  std::chrono::seconds heartbeat{30};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds rpc_timeout{30000};

  // Reads the variables above; problems are recorded in `env` (call env.Finish()).
  [[nodiscard]] static AmqpConfig FromEnv(ConfigReader& env);
  // The URL with its password replaced, safe to log.
  [[nodiscard]] std::string Redacted() const;
};

// Parses an amqp:// URL (librabbitmq's amqp_parse_url; amqps:// is not supported) into host, port,
// vhost, user and password; other fields keep their defaults. An empty vhost ("amqp://h/") means
// "/". Permanent error when malformed.
[[nodiscard]] Result<AmqpConfig> ParseAmqpUrl(const std::string& url);

}  // namespace chansum::amqp
