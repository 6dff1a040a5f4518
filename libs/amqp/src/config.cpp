#include "chansum/amqp/config.hpp"

#include <vector>

#include <amqp.h>

#include "chansum/common/logging.hpp"

namespace chansum::amqp {
namespace {

// ConfigReader has no public way to record a custom problem; a name that cannot be set (it holds
// spaces) makes RequireString record one that reads well:
//   "AMQP_URL as amqp://user:password@host:port/vhost is required (got ...: reason)".
void RecordProblem(ConfigReader& env, const std::string& name, const std::string& detail) {
  env.RequireString(name, detail);
}

}  // namespace

Result<AmqpConfig> ParseAmqpUrl(const std::string& url) {
  // amqp_parse_url writes into its argument and points the result into it: parse a copy.
  std::vector<char> buffer(url.begin(), url.end());
  buffer.push_back('\0');
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  const int rc = amqp_parse_url(buffer.data(), &info);
  if (rc != AMQP_STATUS_OK) {
    return Error::Permanent("amqp_bad_url", "cannot parse AMQP URL \"" + RedactUrl(url) +
                                                "\": " + amqp_error_string2(rc));
  }
  if (info.ssl != 0) {
    return Error::Permanent("amqp_bad_url",
                            "amqps:// is not supported: \"" + RedactUrl(url) + "\"");
  }
  AmqpConfig config;
  config.url = url;
  config.host = info.host;
  config.port = info.port;
  // librabbitmq reads "amqp://host/" as the empty vhost ""; like most clients, take a trailing
  // slash to mean the default vhost "/" ("%2f" also works).
  config.vhost = (info.vhost == nullptr || info.vhost[0] == '\0') ? "/" : info.vhost;
  config.user = info.user;
  config.password = info.password;
  return config;
}

AmqpConfig AmqpConfig::FromEnv(ConfigReader& env) {
  const std::string url =
      env.RequireString("AMQP_URL", "RabbitMQ URL, e.g. amqp://user:password@127.0.0.1:5672/");
  const auto heartbeat = env.Duration("AMQP_HEARTBEAT", std::chrono::seconds(30));
  const auto connect_timeout = env.Duration("AMQP_CONNECT_TIMEOUT", std::chrono::seconds(5));
  const auto rpc_timeout = env.Duration("AMQP_RPC_TIMEOUT", std::chrono::seconds(30));

  AmqpConfig config;
  if (!url.empty()) {
    auto parsed = ParseAmqpUrl(url);
    if (parsed.ok()) {
      config = std::move(parsed).value();
    } else {
      RecordProblem(env, "AMQP_URL as amqp://user:password@host:port/vhost",
                    parsed.error().message);
    }
  }
  if (heartbeat.count() % 1000 != 0 || heartbeat > std::chrono::hours(1)) {
    RecordProblem(env, "AMQP_HEARTBEAT as whole seconds up to 1h", "e.g. 30s");
  }
  config.heartbeat = std::chrono::duration_cast<std::chrono::seconds>(heartbeat);
  if (connect_timeout.count() <= 0) {
    RecordProblem(env, "AMQP_CONNECT_TIMEOUT above zero", "e.g. 5s");
  }
  config.connect_timeout = connect_timeout;
  if (rpc_timeout.count() <= 0) RecordProblem(env, "AMQP_RPC_TIMEOUT above zero", "e.g. 30s");
  config.rpc_timeout = rpc_timeout;
  return config;
}

std::string AmqpConfig::Redacted() const {
  if (!url.empty()) return RedactUrl(url);
  return "amqp://" + user + ":***@" + host + ":" + std::to_string(port) + "/" +
         (vhost == "/" ? "" : vhost);
}

}  // namespace chansum::amqp
