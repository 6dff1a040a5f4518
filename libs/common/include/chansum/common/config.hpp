#pragma once
// Configuration comes only from environment variables. A ConfigReader reads many variables and
// collects every missing or invalid one, so a service reports all its configuration problems at
// once at start instead of one per restart.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace chansum {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  [[nodiscard]] const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

class ConfigReader {
 public:
  using Lookup = std::function<std::optional<std::string>(const std::string&)>;

  // Reads the process environment.
  ConfigReader();
  // Reads from a custom lookup (tests).
  explicit ConfigReader(Lookup lookup);
  explicit ConfigReader(std::map<std::string, std::string> values);

  // Required variables: recorded as a problem when missing or empty.
  std::string RequireString(const std::string& name, const std::string& help);
  // Optional variables with defaults; invalid values are recorded as problems.
  std::string String(const std::string& name, const std::string& fallback);
  // An optional variable whose absence means something else than any value (nullopt when unset;
  // set to "" is "").
  std::optional<std::string> OptionalString(const std::string& name) const { return Get(name); }
  std::int64_t Int(const std::string& name, std::int64_t fallback, std::int64_t min,
                   std::int64_t max);
  bool Bool(const std::string& name, bool fallback);
  // Durations like "250ms", "30s", "5m", "2h" or a bare number of seconds.
  std::chrono::milliseconds Duration(const std::string& name, std::chrono::milliseconds fallback);
  // One of a fixed set of words.
  std::string Choice(const std::string& name, const std::string& fallback,
                     const std::vector<std::string>& choices);

  // Records a problem found by the caller (e.g. a value that parsed but is inconsistent).
  void AddProblem(std::string problem) { problems_.push_back(std::move(problem)); }

  // Throws ConfigError listing every problem seen so far, if any.
  void Finish() const;
  [[nodiscard]] const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::optional<std::string> Get(const std::string& name) const;

  Lookup lookup_;
  std::vector<std::string> problems_;
};

// Reads a typed config struct (one with `static T FromEnv(ConfigReader&)`) from the process
// environment; throws ConfigError listing every problem.
template <class T>
[[nodiscard]] T FromEnvironment() {
  ConfigReader env;
  T value = T::FromEnv(env);
  env.Finish();
  return value;
}

// Parses "250ms", "30s", "5m", "2h" or a bare number of seconds; nullopt when malformed.
[[nodiscard]] std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text);

}  // namespace chansum
