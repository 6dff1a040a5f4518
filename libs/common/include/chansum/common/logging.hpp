#pragma once
// JSON logging on top of spdlog. Every line is one JSON object:
//   {"ts":"...","level":"info","service":"download","msg":"...","job_id":"...",...}
// Context fields (job_id, video_id, message_id, trace_id, stage) are per thread and set with a
// ScopedLogContext for the duration of a unit of work.
#include <map>
#include <string>

#include <spdlog/spdlog.h>

namespace chansum {

struct LogConfig {
  std::string service;
  std::string level = "info";  // trace|debug|info|warn|error|critical|off
};

// Installs the JSON formatter on the default spdlog logger (stderr). Safe to call more than once.
void InitLogging(const LogConfig& config);
// Reads LOG_LEVEL from the environment (default info) and calls InitLogging.
void InitLoggingFromEnv(const std::string& service);

// Sets context fields for log lines written by this thread until destroyed; restores the
// previous values afterwards, so scopes nest.
class ScopedLogContext {
 public:
  explicit ScopedLogContext(std::map<std::string, std::string> fields);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  std::map<std::string, std::string> saved_;
};

// Formats one log record as a JSON line (exposed for tests); URLs in the message and the fields
// are redacted (RedactUrlsIn).
[[nodiscard]] std::string FormatLogLine(const std::string& service, const std::string& level,
                                        const std::string& message,
                                        const std::map<std::string, std::string>& fields,
                                        const std::string& timestamp);

// Replaces secrets in a URL for logging: the password ("amqp://user:pass@host" ->
// "amqp://user:***@host") and every query value but a few known settings such as sslmode
// ("https://feeds.example/rss?token=abc&sig=x" -> "https://feeds.example/rss?token=***&sig=***").
[[nodiscard]] std::string RedactUrl(const std::string& url);
// RedactUrl on every URL ("scheme://..." up to white space or a quote) inside `text`. Every log
// line goes through it (FormatLogLine).
[[nodiscard]] std::string RedactUrlsIn(const std::string& text);

}  // namespace chansum
