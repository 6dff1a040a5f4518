#include "chansum/common/logging.hpp"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <nlohmann/json.hpp>

#include "chansum/common/ids.hpp"

namespace chansum {
namespace {

thread_local std::map<std::string, std::string> t_context;

class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string service) : service_(std::move(service)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = FormatLogLine(service_,
                                     std::string(spdlog::level::to_string_view(msg.level).data(),
                                                 spdlog::level::to_string_view(msg.level).size()),
                                     std::string(msg.payload.data(), msg.payload.size()), t_context,
                                     FormatTimestamp(msg.time));
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(service_);
  }

 private:
  std::string service_;
};

}  // namespace

std::string FormatLogLine(const std::string& service, const std::string& level,
                          const std::string& message,
                          const std::map<std::string, std::string>& fields,
                          const std::string& timestamp) {
  nlohmann::ordered_json j;
  j["ts"] = timestamp;
  j["level"] = level;
  j["service"] = service;
  j["msg"] = message;
  for (const auto& [k, v] : fields) {
    if (!v.empty()) j[k] = v;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void InitLogging(const LogConfig& config) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto logger = spdlog::get(config.service);
  if (!logger) {
    logger = std::make_shared<spdlog::logger>(config.service,
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
  }
  logger->set_formatter(std::make_unique<JsonFormatter>(config.service));
  logger->set_level(spdlog::level::from_str(config.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void InitLoggingFromEnv(const std::string& service) {
  const char* env = std::getenv("LOG_LEVEL");
  std::string level = env != nullptr && *env != 0 ? env : "info";
  // spdlog maps unknown names to "off": refuse them instead of going silent.
  const bool known = level == "off" || spdlog::level::from_str(level) != spdlog::level::off;
  InitLogging(LogConfig{service, known ? level : "info"});
  if (!known) {
    spdlog::warn(
        "LOG_LEVEL=\"{}\" is not one of trace|debug|info|warn|error|critical|off; using info",
        level);
  }
}

ScopedLogContext::ScopedLogContext(std::map<std::string, std::string> fields) {
  for (auto& [k, v] : fields) {
    auto it = t_context.find(k);
    saved_[k] = it == t_context.end() ? std::string() : it->second;
    t_context[k] = std::move(v);
  }
}

ScopedLogContext::~ScopedLogContext() {
  for (auto& [k, v] : saved_) {
    if (v.empty()) {
      t_context.erase(k);
    } else {
      t_context[k] = std::move(v);
    }
  }
}

std::string RedactUrl(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace chansum
