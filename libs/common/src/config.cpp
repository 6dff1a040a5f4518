#include "chansum/common/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

namespace chansum {
namespace {

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string out = "invalid configuration (" + std::to_string(problems.size()) + " problem" +
                    (problems.size() == 1 ? "" : "s") + "):";
  for (const auto& p : problems) out += "\n  - " + p;
  return out;
}

std::optional<std::int64_t> ParseInt(const std::string& text) {
  std::int64_t value = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(JoinProblems(problems)), problems_(std::move(problems)) {}

ConfigReader::ConfigReader()
    : lookup_([](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      }) {}

ConfigReader::ConfigReader(Lookup lookup) : lookup_(std::move(lookup)) {}

ConfigReader::ConfigReader(std::map<std::string, std::string> values)
    : lookup_([values = std::move(values)](const std::string& name) -> std::optional<std::string> {
        auto it = values.find(name);
        if (it == values.end()) return std::nullopt;
        return it->second;
      }) {}

std::optional<std::string> ConfigReader::Get(const std::string& name) const {
  auto v = lookup_(name);
  if (v && v->empty()) return std::nullopt;  // empty counts as unset
  return v;
}

std::string ConfigReader::RequireString(const std::string& name, const std::string& help) {
  auto v = Get(name);
  if (!v) {
    problems_.push_back(name + " is required (" + help + ")");
    return {};
  }
  return *v;
}

std::string ConfigReader::String(const std::string& name, const std::string& fallback) {
  return Get(name).value_or(fallback);
}

std::int64_t ConfigReader::Int(const std::string& name, std::int64_t fallback, std::int64_t min,
                               std::int64_t max) {
  auto v = Get(name);
  if (!v) return fallback;
  auto parsed = ParseInt(*v);
  if (!parsed) {
    problems_.push_back(name + "=\"" + *v + "\" is not a whole number");
    return fallback;
  }
  if (*parsed < min || *parsed > max) {
    problems_.push_back(name + "=" + *v + " is out of range [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]");
    return fallback;
  }
  return *parsed;
}

bool ConfigReader::Bool(const std::string& name, bool fallback) {
  auto v = Get(name);
  if (!v) return fallback;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  problems_.push_back(name + "=\"" + *v + "\" is not a boolean (use true/false)");
  return fallback;
}

std::chrono::milliseconds ConfigReader::Duration(const std::string& name,
                                                 std::chrono::milliseconds fallback) {
  auto v = Get(name);
  if (!v) return fallback;
  auto d = ParseDuration(*v);
  if (!d) {
    problems_.push_back(name + "=\"" + *v + "\" is not a duration (e.g. 500ms, 30s, 5m, 1h)");
    return fallback;
  }
  return *d;
}

std::string ConfigReader::Choice(const std::string& name, const std::string& fallback,
                                 const std::vector<std::string>& choices) {
  auto v = Get(name);
  if (!v) return fallback;
  if (std::find(choices.begin(), choices.end(), *v) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
    problems_.push_back(name + "=\"" + *v + "\" must be one of " + list);
    return fallback;
  }
  return *v;
}

void ConfigReader::Finish() const {
  if (!problems_.empty()) throw ConfigError(problems_);
}

std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return std::nullopt;
  auto number = ParseInt(text.substr(0, i));
  if (!number || *number < 0) return std::nullopt;
  const std::string unit = text.substr(i);
  using std::chrono::milliseconds;
  if (unit.empty() || unit == "s") return milliseconds(*number * 1000);
  if (unit == "ms") return milliseconds(*number);
  if (unit == "m") return milliseconds(*number * 60'000);
  if (unit == "h") return milliseconds(*number * 3'600'000);
  return std::nullopt;
}

}  // namespace chansum
