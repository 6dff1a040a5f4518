#include "chansum/protocol/events.hpp"

#include <array>
#include <chrono>
#include <regex>
#include <set>
#include <vector>

#include "chansum/common/ids.hpp"

namespace chansum::protocol {
namespace {

constexpr std::array<std::string_view, 8> kEventNames = {
    "video.discovered",        "video.downloaded", "audio.extracted", "transcription.completed",
    "summarization.completed", "video.failed",     "job.completed",   "subscription.checked"};

Error Invalid(const std::string& what) { return Error::Permanent("malformed_event", what); }

constexpr const char* kNotJson = "payload is not valid JSON";
constexpr const char* kNotObject = "payload is not a JSON object";

// The check every event passes, raw or not: a string event_id of 1..kMaxEventIdLength characters.
template <typename Json>
std::optional<std::string> EventIdProblem(const Json& j) {
  auto it = j.find("event_id");
  if (it == j.end()) return "no event_id";
  if (!it->is_string()) return "event_id is not a string";
  const auto& id = it->template get_ref<const std::string&>();
  if (id.empty()) return "event_id is empty";
  if (id.size() > kMaxEventIdLength) {
    return "event_id longer than " + std::to_string(kMaxEventIdLength);
  }
  return std::nullopt;
}

// The data fields of each type, as in proto/events/<type>.schema.json. Every field is required
// and no other field is allowed.
enum class Kind {
  kString,          // any string
  kNonEmptyString,  // string, at least one character
  kCount,           // integer >= 0
  kPositive,        // integer >= 1
  kNumber,          // number >= 0
  kNullableNumber,  // number >= 0 or null
  kNullableString,  // string or null
  kEnum,            // one of `values`
  kUuid,            // a UUID string
  kNullableUuid,    // a UUID string or null
};

struct Field {
  const char* name;
  Kind kind;
  std::vector<std::string_view> values = {};
};

const std::vector<Field>& DataFields(EventType type) {
  static const std::vector<Field> kDiscovered = {{"title", Kind::kString},
                                                 {"url", Kind::kNonEmptyString},
                                                 {"duration_s", Kind::kNullableNumber},
                                                 {"published_at", Kind::kNullableString},
                                                 {"position", Kind::kCount}};
  static const std::vector<Field> kDownloaded = {{"duration_ms", Kind::kCount},
                                                 {"bytes", Kind::kCount}};
  static const std::vector<Field> kExtracted = {
      {"duration_ms", Kind::kCount}, {"audio_seconds", Kind::kNumber}, {"bytes", Kind::kCount}};
  static const std::vector<Field> kTranscribed = {{"duration_ms", Kind::kCount},
                                                  {"engine", Kind::kNonEmptyString},
                                                  {"segments", Kind::kCount},
                                                  {"audio_seconds", Kind::kNumber}};
  static const std::vector<Field> kSummarized = {{"duration_ms", Kind::kCount},
                                                 {"engine", Kind::kNonEmptyString},
                                                 {"key_points", Kind::kCount},
                                                 {"summary_chars", Kind::kCount}};
  static const std::vector<Field> kFailed = {
      {"stage", Kind::kEnum, {"download", "audio_extraction", "transcription", "summarization"}},
      {"error_class", Kind::kEnum, {"transient", "permanent"}},
      {"error_code", Kind::kNonEmptyString},
      {"error_message", Kind::kString},
      {"attempts", Kind::kPositive}};
  static const std::vector<Field> kJob = {
      {"state", Kind::kEnum, {"completed", "completed_with_errors", "failed"}},
      {"video_count", Kind::kCount},
      {"done", Kind::kCount},
      {"failed", Kind::kCount},
      {"duration_ms", Kind::kCount}};
  static const std::vector<Field> kChecked = {
      {"subscription_id", Kind::kUuid},
      {"check_id", Kind::kUuid},
      {"outcome", Kind::kEnum, {"new_videos", "no_new_videos", "failed"}},
      {"new_videos", Kind::kCount},
      {"started_job_id", Kind::kNullableUuid},
      {"listing", Kind::kEnum, {"full", "feed"}},
      {"error", Kind::kNullableString}};
  switch (type) {
    case EventType::kSubscriptionChecked:
      return kChecked;
    case EventType::kVideoDiscovered:
      return kDiscovered;
    case EventType::kVideoDownloaded:
      return kDownloaded;
    case EventType::kAudioExtracted:
      return kExtracted;
    case EventType::kTranscriptionCompleted:
      return kTranscribed;
    case EventType::kSummarizationCompleted:
      return kSummarized;
    case EventType::kVideoFailed:
      return kFailed;
    case EventType::kJobCompleted:
      return kJob;
  }
  return kJob;
}

std::optional<std::string> CheckField(const nlohmann::json& v, const Field& f) {
  const std::string where = std::string("data.") + f.name;
  switch (f.kind) {
    case Kind::kString:
      if (!v.is_string()) return where + " must be a string";
      return std::nullopt;
    case Kind::kNonEmptyString:
      if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
        return where + " must be a non-empty string";
      }
      return std::nullopt;
    case Kind::kCount:
      if (!v.is_number_integer()) return where + " must be an integer";
      if (v.is_number_unsigned()) {
        if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
          return where + " is out of range";
        }
      } else if (v.get<std::int64_t>() < 0) {
        return where + " must not be negative";
      }
      return std::nullopt;
    case Kind::kPositive:
      if (!v.is_number_integer() || v.get<std::int64_t>() < 1) {
        return where + " must be an integer >= 1";
      }
      return std::nullopt;
    case Kind::kNumber:
      if (!v.is_number() || v.get<double>() < 0) return where + " must be a number >= 0";
      return std::nullopt;
    case Kind::kNullableNumber:
      if (!v.is_null() && (!v.is_number() || v.get<double>() < 0)) {
        return where + " must be a number >= 0 or null";
      }
      return std::nullopt;
    case Kind::kNullableString:
      if (!v.is_null() && !v.is_string()) return where + " must be a string or null";
      return std::nullopt;
    case Kind::kUuid:
      if (!v.is_string() || !IsUuid(v.get_ref<const std::string&>())) {
        return where + " must be a UUID";
      }
      return std::nullopt;
    case Kind::kNullableUuid:
      if (!v.is_null() && (!v.is_string() || !IsUuid(v.get_ref<const std::string&>()))) {
        return where + " must be a UUID or null";
      }
      return std::nullopt;
    case Kind::kEnum:
      if (v.is_string()) {
        for (auto allowed : f.values) {
          if (v.get_ref<const std::string&>() == allowed) return std::nullopt;
        }
      }
      return where + " is not one of the allowed values";
  }
  return where + " has an unknown kind";
}

std::optional<std::string> ValidateData(EventType type, const nlohmann::json& data,
                                        UnknownFields unknown) {
  if (!data.is_object()) return "data must be an object";
  const auto& fields = DataFields(type);
  for (const auto& f : fields) {
    if (!data.contains(f.name)) return std::string("data.") + f.name + " is required";
    if (auto p = CheckField(data.at(f.name), f)) return p;
  }
  if (unknown == UnknownFields::kIgnore) return std::nullopt;
  for (const auto& [key, _] : data.items()) {
    bool known = false;
    for (const auto& f : fields) known = known || key == f.name;
    if (!known) return "data." + key + " is not a known field";
  }
  return std::nullopt;
}

// The data of `type` without the fields its schema does not name.
nlohmann::json KnownData(EventType type, const nlohmann::json& data) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : DataFields(type)) out[f.name] = data.at(f.name);
  return out;
}

std::optional<std::string> CheckId(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return std::string("event.") + key + " is required";
  const auto& v = j.at(key);
  if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
      v.get_ref<const std::string&>().size() > 128) {
    return std::string("event.") + key + " must be a string of 1 to 128 characters";
  }
  return std::nullopt;
}

nlohmann::ordered_json ToOrderedJson(const Event& e) {
  nlohmann::ordered_json j;
  j["event_id"] = e.event_id;
  j["type"] = EventTypeName(e.type);
  j["version"] = e.version;
  j["occurred_at"] = e.occurred_at;
  j["job_id"] = e.job_id;
  if (HasVideoId(e.type)) j["video_id"] = e.video_id;
  j["trace_id"] = e.trace_id;
  j["data"] = e.data;
  return j;
}

}  // namespace

std::string_view EventTypeName(EventType type) noexcept {
  return kEventNames[static_cast<int>(type)];
}

std::optional<EventType> EventTypeFromName(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kEventNames.size(); ++i) {
    if (kEventNames[i] == name) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

std::optional<Stage> CompletedStage(EventType type) noexcept {
  for (Stage stage : kAllStages) {
    if (StageCompletedEvent(stage) == type) return stage;
  }
  return std::nullopt;
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

std::optional<EventType> StageCompletedEvent(Stage stage) noexcept {
  switch (stage) {
    case Stage::kDownload:
      return EventType::kVideoDownloaded;
    case Stage::kAudioExtraction:
      return EventType::kAudioExtracted;
    case Stage::kTranscription:
      return EventType::kTranscriptionCompleted;
    case Stage::kSummarization:
      return EventType::kSummarizationCompleted;
    case Stage::kDiscovery:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string EventTopic(std::string_view prefix, EventType type) {
  return std::string(prefix) + std::string(EventTypeName(type));
}

std::vector<std::string> EventTopics(std::string_view prefix) {
  std::vector<std::string> out;
  for (EventType t : kAllEventTypes) out.push_back(EventTopic(prefix, t));
  return out;
}

std::string EventsExchange(std::string_view prefix) { return std::string(prefix) + "events"; }

Event NewEvent(EventType type, std::string job_id, std::string video_id, std::string trace_id,
               nlohmann::json data) {
  Event e;
  e.type = type;
  e.event_id = NewUuid();
  e.occurred_at = NowTimestamp();
  e.job_id = std::move(job_id);
  if (HasVideoId(type)) e.video_id = std::move(video_id);
  e.trace_id = std::move(trace_id);
  e.data = std::move(data);
  return e;
}

bool HasVideoId(EventType type) noexcept {
  return type != EventType::kJobCompleted && type != EventType::kSubscriptionChecked;
}

const std::string& EventKey(const Event& event) noexcept {
  if (event.type == EventType::kSubscriptionChecked) {
    auto it = event.data.find("subscription_id");
    if (it != event.data.end() && it->is_string()) return it->get_ref<const std::string&>();
    return event.job_id;
  }
  return HasVideoId(event.type) ? event.video_id : event.job_id;
}

nlohmann::json ToJson(const Event& e) { return nlohmann::json(ToOrderedJson(e)); }

// Keeps the envelope's field order on the wire (readable logs); nlohmann::json would sort keys.
std::string Serialize(const Event& e) { return ToOrderedJson(e).dump(); }

Result<RawEvent> ParseRawEvent(std::string_view body) {
  auto doc = nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Invalid(kNotJson);
  if (!doc.is_object()) return Invalid(kNotObject);
  if (auto p = EventIdProblem(doc)) return Invalid(*p);
  auto id = doc["event_id"].get<std::string>();
  return RawEvent{std::move(id), std::move(doc)};
}

Result<Event> EventFromJson(const nlohmann::json& j, UnknownFields unknown) {
  if (!j.is_object()) return Invalid(kNotObject);
  if (auto p = EventIdProblem(j)) return Invalid(*p);
  const auto& event_id = j["event_id"].get_ref<const std::string&>();
  if (!IsUuid(event_id)) return Invalid("event.event_id is not a UUID: \"" + event_id + "\"");
  if (!j.contains("type")) return Invalid("event.type is required");
  if (!j["type"].is_string()) return Invalid("event.type must be a string");
  const auto& name = j["type"].get_ref<const std::string&>();
  const auto type = EventTypeFromName(name);
  if (!type) return Invalid("unknown event type \"" + name + "\"");
  const bool has_video = HasVideoId(*type);

  std::set<std::string> allowed = {"event_id", "type",     "version", "occurred_at",
                                   "job_id",   "trace_id", "data"};
  if (has_video) allowed.insert("video_id");
  for (const auto& key : allowed) {
    if (!j.contains(key)) return Invalid("event." + key + " is required");
  }
  for (const auto& [key, _] : j.items()) {
    if (!allowed.contains(key) && unknown == UnknownFields::kReject) {
      return Invalid("event." + key + " is not a known field" +
                     (key == "video_id" ? " of " + name : std::string()));
    }
  }
  if (!j["version"].is_number_integer()) return Invalid("event.version must be an integer");
  if (j["version"] != 1) {
    return Invalid("unsupported event version " + j["version"].dump() +
                   " (this parser understands version 1)");
  }
  for (const char* key : {"occurred_at", "job_id", "trace_id"}) {
    if (auto p = CheckId(j, key)) return Invalid(*p);
  }
  if (has_video) {
    if (auto p = CheckId(j, "video_id")) return Invalid(*p);
  }
  const auto& occurred_at = j["occurred_at"].get_ref<const std::string&>();
  if (!IsRfc3339(occurred_at)) {
    return Invalid("event.occurred_at is not an RFC 3339 timestamp: \"" + occurred_at + "\"");
  }
  const auto& job_id = j["job_id"].get_ref<const std::string&>();
  if (!IsUuid(job_id)) return Invalid("event.job_id is not a UUID: \"" + job_id + "\"");
  if (auto p = ValidateData(*type, j["data"], unknown)) return Invalid(*p);

  Event e;
  e.type = *type;
  e.event_id = event_id;
  e.occurred_at = occurred_at;
  e.job_id = job_id;
  if (has_video) e.video_id = j["video_id"].get<std::string>();
  e.trace_id = j["trace_id"].get<std::string>();
  e.data = KnownData(*type, j["data"]);
  return e;
}

Result<Event> ParseEvent(std::string_view body, UnknownFields unknown) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid(kNotJson);
  return EventFromJson(j, unknown);
}

std::optional<std::int64_t> StageDurationMs(const Event& event) {
  if (!CompletedStage(event.type)) return std::nullopt;
  return event.data.at("duration_ms").get<std::int64_t>();
}

std::optional<VideoFailedData> VideoFailed(const Event& event) {
  if (event.type != EventType::kVideoFailed) return std::nullopt;
  const auto& d = event.data;
  return VideoFailedData{
      *StageFromName(d.at("stage").get<std::string>()), d.at("error_class").get<std::string>(),
      d.at("error_code").get<std::string>(), d.at("error_message").get<std::string>(),
      d.at("attempts").get<std::int64_t>()};
}

std::optional<JobCompletedData> JobCompleted(const Event& event) {
  if (event.type != EventType::kJobCompleted) return std::nullopt;
  const auto& d = event.data;
  return JobCompletedData{d.at("state").get<std::string>(), d.at("video_count").get<std::int64_t>(),
                          d.at("done").get<std::int64_t>(), d.at("failed").get<std::int64_t>(),
                          d.at("duration_ms").get<std::int64_t>()};
}

std::optional<SubscriptionCheckedData> SubscriptionChecked(const Event& event) {
  if (event.type != EventType::kSubscriptionChecked) return std::nullopt;
  const auto& d = event.data;
  auto nullable = [&](const char* key) {
    return d.at(key).is_null() ? std::string() : d.at(key).get<std::string>();
  };
  return SubscriptionCheckedData{d.at("subscription_id").get<std::string>(),
                                 d.at("check_id").get<std::string>(),
                                 d.at("outcome").get<std::string>(),
                                 d.at("new_videos").get<std::int64_t>(),
                                 nullable("started_job_id"),
                                 d.at("listing").get<std::string>(),
                                 nullable("error")};
}

}  // namespace chansum::protocol
