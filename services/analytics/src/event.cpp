#include "event.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <regex>

namespace chansum::analytics {
namespace {

using nlohmann::json;

Error Malformed(std::string reason) {
  return Error::Permanent("malformed_event", std::move(reason));
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

template <std::size_t N>
bool OneOf(const std::array<std::string_view, N>& set, std::string_view v) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

// Reads a required string field of `obj`; returns a reason on failure.
std::optional<std::string> RequireString(const json& obj, const char* field, std::string* out,
                                         const char* where) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) {
    return std::string(where) + "\"" + field + "\" is missing";
  }
  if (!it->is_string()) return std::string(where) + "\"" + field + "\" must be a string";
  *out = it->get<std::string>();
  return std::nullopt;
}

std::optional<std::string> RequireCount(const json& obj, const char* field, std::int64_t* out) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::string("data.") + field + " is missing";
  if (!it->is_number_integer()) return std::string("data.") + field + " must be an integer";
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) {
      return std::string("data.") + field + " is out of range";
    }
    *out = static_cast<std::int64_t>(u);
  } else {
    *out = it->get<std::int64_t>();
  }
  if (*out < 0) return std::string("data.") + field + " must not be negative";
  return std::nullopt;
}

}  // namespace

std::vector<std::string> EventTopics(const std::string& queue_prefix) {
  std::vector<std::string> topics;
  for (auto t : kEventTypes) topics.push_back(queue_prefix + std::string(t));
  return topics;
}

std::optional<std::string_view> StageOfEventType(std::string_view type) {
  if (type == "video.downloaded") return kStages[0];
  if (type == "audio.extracted") return kStages[1];
  if (type == "transcription.completed") return kStages[2];
  if (type == "summarization.completed") return kStages[3];
  return std::nullopt;
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool IsRfc3339(std::string_view s) {
  static const std::regex kRe(
      R"(^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(s.begin(), s.end(), m, kRe)) return false;
  auto num = [&](int i) { return std::stoi(m[i].str()); };
  const std::chrono::year_month_day ymd{std::chrono::year(num(1)),
                                        std::chrono::month(static_cast<unsigned>(num(2))),
                                        std::chrono::day(static_cast<unsigned>(num(3)))};
  if (!ymd.ok() || num(1) < 1) return false;
  if (num(4) > 23 || num(5) > 59 || num(6) > 60) return false;
  if (m[9].matched && (num(9) > 23 || num(10) > 59)) return false;
  return true;
}

Result<Event> ParseEvent(std::string_view payload, std::string_view topic,
                         std::string_view queue_prefix) {
  const json j = json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Malformed("payload is not valid JSON");
  if (!j.is_object()) return Malformed("payload is not a JSON object");

  Event e;
  if (auto r = RequireString(j, "event_id", &e.event_id, "")) return Malformed(*r);
  if (!IsUuid(e.event_id)) return Malformed("\"event_id\" is not a UUID: \"" + e.event_id + "\"");
  e.event_id = Lower(e.event_id);

  if (auto r = RequireString(j, "type", &e.type, "")) return Malformed(*r);
  if (!OneOf(kEventTypes, e.type)) return Malformed("unknown event type \"" + e.type + "\"");
  if (!topic.empty() && std::string(queue_prefix) + e.type != topic) {
    return Malformed("event type \"" + e.type + "\" arrived on topic \"" + std::string(topic) +
                     "\" (expected \"" + std::string(queue_prefix) + e.type + "\")");
  }

  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer()) {
    return Malformed("\"version\" is missing or not an integer");
  }
  if (v->get<std::int64_t>() != 1) {
    return Malformed("unsupported event version " + std::to_string(v->get<std::int64_t>()) +
                     " (this consumer understands version 1)");
  }

  if (auto r = RequireString(j, "occurred_at", &e.occurred_at, "")) return Malformed(*r);
  if (!IsRfc3339(e.occurred_at)) {
    return Malformed("\"occurred_at\" is not an RFC 3339 timestamp: \"" + e.occurred_at + "\"");
  }
  if (auto r = RequireString(j, "job_id", &e.job_id, "")) return Malformed(*r);
  if (!IsUuid(e.job_id)) return Malformed("\"job_id\" is not a UUID: \"" + e.job_id + "\"");
  e.job_id = Lower(e.job_id);

  if (e.type != "job.completed") {
    if (auto r = RequireString(j, "video_id", &e.video_id, "")) return Malformed(*r);
    if (e.video_id.empty()) return Malformed("\"video_id\" is empty");
  } else if (auto it = j.find("video_id"); it != j.end() && it->is_string()) {
    e.video_id = it->get<std::string>();
  }
  if (auto it = j.find("trace_id"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return Malformed("\"trace_id\" must be a string");
    e.trace_id = it->get<std::string>();
  }

  auto d = j.find("data");
  if (d == j.end() || !d->is_object()) return Malformed("\"data\" is missing or not an object");
  const json& data = *d;

  if (auto stage = StageOfEventType(e.type)) {
    e.stage = std::string(*stage);
    if (auto r = RequireCount(data, "duration_ms", &e.duration_ms)) return Malformed(*r);
  } else if (e.type == "video.failed") {
    if (auto r = RequireString(data, "stage", &e.failed_stage, "data.")) return Malformed(*r);
    if (!OneOf(kStages, e.failed_stage)) {
      return Malformed("data.stage \"" + e.failed_stage +
                       "\" is not one of download|audio_extraction|transcription|summarization");
    }
    if (auto r = RequireString(data, "error_class", &e.error_class, "data.")) return Malformed(*r);
    if (e.error_class != "transient" && e.error_class != "permanent") {
      return Malformed("data.error_class \"" + e.error_class + "\" is not transient|permanent");
    }
    if (auto r = RequireString(data, "error_code", &e.error_code, "data.")) return Malformed(*r);
  } else if (e.type == "job.completed") {
    if (auto r = RequireString(data, "state", &e.job_state, "data.")) return Malformed(*r);
    if (e.job_state != "completed" && e.job_state != "completed_with_errors" &&
        e.job_state != "failed") {
      return Malformed("data.state \"" + e.job_state +
                       "\" is not completed|completed_with_errors|failed");
    }
    if (auto r = RequireCount(data, "video_count", &e.video_count)) return Malformed(*r);
    if (auto r = RequireCount(data, "done", &e.done)) return Malformed(*r);
    if (auto r = RequireCount(data, "failed", &e.failed)) return Malformed(*r);
    if (auto r = RequireCount(data, "duration_ms", &e.job_duration_ms)) return Malformed(*r);
  }
  return e;
}

std::optional<double> PercentileCont(std::vector<double> values, double q) {
  if (values.empty()) return std::nullopt;
  q = std::clamp(q, 0.0, 1.0);
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = static_cast<std::size_t>(std::ceil(pos));
  return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

}  // namespace chansum::analytics
