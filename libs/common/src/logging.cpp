#include "chansum/common/logging.hpp"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <string_view>

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
  // Wherever a URL is logged (a channel, a feed, a server), its password and query values are not.
  j["msg"] = RedactUrlsIn(message);
  for (const auto& [k, v] : fields) {
    if (!v.empty()) j[k] = RedactUrlsIn(v);
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

namespace {

// Query keys of connection URLs whose values are settings, not secrets: kept in logs.
bool IsSettingKey(std::string_view key) {
  static constexpr std::string_view kSettings[] = {
      "sslmode",    "connect_timeout", "application_name", "target_session_attrs",
      "authSource", "authMechanism",   "replicaSet",       "heartbeat",
      "frame_max",  "channel_max"};
  for (auto s : kSettings) {
    if (key == s) return true;
  }
  return false;
}

bool IsSchemeChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-' || c == '.';
}

bool EndsUrl(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '`';
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  std::string out = url;
  auto at = out.find('@', scheme + 3);
  const auto slash = out.find_first_of("/?#", scheme + 3);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    auto colon = out.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) {
      out = out.substr(0, colon + 1) + "***" + out.substr(at);
    }
  }
  // Query values (?token=..., &key=..., &sig=...): channel and feed URLs carry credentials there.
  const auto query = out.find('?', scheme + 3);
  if (query == std::string::npos) return out;
  const auto fragment = out.find('#', query);
  const std::string tail = fragment == std::string::npos ? "" : out.substr(fragment);
  const std::string params =
      out.substr(query + 1, (fragment == std::string::npos ? out.size() : fragment) - query - 1);
  std::string redacted = out.substr(0, query + 1);
  std::size_t pos = 0;
  while (pos <= params.size()) {
    auto amp = params.find('&', pos);
    if (amp == std::string::npos) amp = params.size();
    const std::string param = params.substr(pos, amp - pos);
    const auto eq = param.find('=');
    if (eq == std::string::npos || eq + 1 == param.size() || IsSettingKey(param.substr(0, eq))) {
      redacted += param;
    } else {
      redacted += param.substr(0, eq + 1) + "***";
    }
    if (amp < params.size()) redacted += '&';
    pos = amp + 1;
  }
  return redacted + tail;
}

std::string RedactUrlsIn(const std::string& text) {
  if (text.find("://") == std::string::npos) return text;
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  std::size_t search = 0;
  while (true) {
    const auto sep = text.find("://", search);
    if (sep == std::string::npos) break;
    std::size_t start = sep;
    while (start > copied && IsSchemeChar(text[start - 1])) --start;
    std::size_t end = sep + 3;
    while (end < text.size() && !EndsUrl(text[end])) ++end;
    if (start == sep) {  // no scheme before "://"
      search = sep + 3;
      continue;
    }
    out.append(text, copied, start - copied);
    out += RedactUrl(text.substr(start, end - start));
    copied = end;
    search = end;
  }
  out.append(text, copied, std::string::npos);
  return out;
}

}  // namespace chansum
