#include "chansum/protocol/command.hpp"

#include <algorithm>

#include <array>
#include <set>

#include "chansum/common/ids.hpp"

namespace chansum::protocol {
namespace {

constexpr std::array<std::string_view, 5> kStageNames = {
    "discovery", "download", "audio_extraction", "transcription", "summarization"};

Error Invalid(const std::string& what) { return Error::Permanent("invalid_command", what); }

// Checks the object has only `allowed` keys and every `required` key; returns the first problem.
std::optional<std::string> CheckKeys(const nlohmann::json& j, const std::string& where,
                                     const std::set<std::string>& required,
                                     const std::set<std::string>& allowed) {
  if (!j.is_object()) return where + " must be an object";
  for (const auto& key : required) {
    if (!j.contains(key)) return (where + ".").append(key).append(" is required");
  }
  for (const auto& [key, _] : j.items()) {
    if (!allowed.contains(key)) {
      return (where + ".").append(key).append(" is not a known field");
    }
  }
  return std::nullopt;
}

std::optional<std::string> CheckString(const nlohmann::json& j, const std::string& key,
                                       const std::string& where, std::size_t max_len,
                                       bool required) {
  if (!j.contains(key)) {
    return required ? std::optional<std::string>(where + "." + key + " is required") : std::nullopt;
  }
  const auto& v = j.at(key);
  if (!v.is_string()) return where + "." + key + " must be a string";
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty()) return where + "." + key + " must not be empty";
  if (s.size() > max_len) {
    return where + "." + key + " is longer than " + std::to_string(max_len) + " characters";
  }
  return std::nullopt;
}

std::optional<std::string> ValidateData(Stage stage, const nlohmann::json& data) {
  const std::string where = "data";
  switch (stage) {
    case Stage::kDiscovery: {
      if (auto p = CheckKeys(data, where, {"channel_url", "max_videos"},
                             {"channel_url", "max_videos", "published_after", "max_duration_s",
                              "caption_languages", "feed"})) {
        return p;
      }
      if (auto p = CheckString(data, "channel_url", where, 2048, true)) return p;
      if (data["channel_url"].get_ref<const std::string&>().front() == '-') {
        return "data.channel_url must not start with '-'";
      }
      const auto& m = data["max_videos"];
      if (!m.is_number_integer() || m.get<long long>() < 1 || m.get<long long>() > 500) {
        return "data.max_videos must be an integer from 1 to 500";
      }
      if (auto p = CheckString(data, "published_after", where, 64, false)) return p;
      if (data.contains("max_duration_s") &&
          (!data["max_duration_s"].is_number() || data["max_duration_s"].get<double>() <= 0)) {
        return "data.max_duration_s must be a positive number";
      }
      if (data.contains("caption_languages")) {
        const auto& c = data["caption_languages"];
        if (!c.is_array() || c.empty() || c.size() > 10 ||
            !std::all_of(c.begin(), c.end(), [](const nlohmann::json& l) {
              return l.is_string() && !l.get_ref<const std::string&>().empty() &&
                     l.get_ref<const std::string&>().size() <= 35;
            })) {
          return "data.caption_languages must be an array of 1 to 10 language codes";
        }
      }
      if (data.contains("feed")) {
        // A subscription check's feed pre-check: the Atom feed to read first, the video ids it
        // showed last time, or why there is no feed.
        const auto& f = data["feed"];
        if (auto p = CheckKeys(f, "data.feed", {}, {"url", "seen", "note"})) return p;
        if (f.contains("url") && !f["url"].is_null()) {
          if (auto p = CheckString(f, "url", "data.feed", 2048, true)) return p;
        }
        if (f.contains("seen") && !f["seen"].is_null()) {
          const auto& seen = f["seen"];
          if (!seen.is_array() || seen.size() > 200 ||
              !std::all_of(seen.begin(), seen.end(), [](const nlohmann::json& id) {
                return id.is_string() && id.get_ref<const std::string&>().size() <= 128;
              })) {
            return "data.feed.seen must be null or an array of at most 200 video ids";
          }
        }
        if (f.contains("note") && !f["note"].is_string()) return "data.feed.note must be a string";
      }
      return std::nullopt;
    }
    case Stage::kDownload:
      if (auto p = CheckKeys(data, where, {"url"}, {"url", "title"})) return p;
      if (auto p = CheckString(data, "url", where, 4096, true)) return p;
      if (data.contains("title") && !data["title"].is_string()) {
        return "data.title must be a string";
      }
      return std::nullopt;
    case Stage::kAudioExtraction:
      if (auto p = CheckKeys(data, where, {"media_path"}, {"media_path"})) return p;
      return CheckString(data, "media_path", where, 4096, true);
    case Stage::kTranscription:
      if (auto p = CheckKeys(data, where, {"audio_path"}, {"audio_path"})) return p;
      return CheckString(data, "audio_path", where, 4096, true);
    case Stage::kSummarization:
      return CheckKeys(data, where, {}, {});
  }
  return "unknown stage";
}

}  // namespace

std::string_view StageName(Stage stage) noexcept { return kStageNames[static_cast<int>(stage)]; }

std::optional<Stage> StageFromName(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kStageNames.size(); ++i) {
    if (kStageNames[i] == name) return static_cast<Stage>(i);
  }
  return std::nullopt;
}

std::optional<Stage> NextStage(Stage stage) noexcept {
  switch (stage) {
    case Stage::kDownload:
      return Stage::kAudioExtraction;
    case Stage::kAudioExtraction:
      return Stage::kTranscription;
    case Stage::kTranscription:
      return Stage::kSummarization;
    case Stage::kDiscovery:
    case Stage::kSummarization:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string CommandType(Stage stage) { return std::string(StageName(stage)) + ".requested"; }

std::string QueueName(std::string_view prefix, Stage stage) {
  return std::string(prefix) + std::string(StageName(stage));
}

Command NewCommand(Stage stage, std::string job_id, std::string video_id, std::string trace_id,
                   nlohmann::json data, int attempt) {
  Command c;
  c.stage = stage;
  c.message_id = NewUuid();
  c.job_id = std::move(job_id);
  c.video_id = std::move(video_id);
  c.attempt = attempt;
  c.trace_id = std::move(trace_id);
  c.occurred_at = NowTimestamp();
  c.data = std::move(data);
  return c;
}

nlohmann::json ToJson(const Command& c) {
  nlohmann::ordered_json j;
  j["type"] = CommandType(c.stage);
  j["version"] = c.version;
  j["message_id"] = c.message_id;
  j["job_id"] = c.job_id;
  if (!c.video_id.empty()) j["video_id"] = c.video_id;
  j["attempt"] = c.attempt;
  j["trace_id"] = c.trace_id;
  j["occurred_at"] = c.occurred_at;
  j["data"] = c.data;
  return nlohmann::json(j);
}

std::string Serialize(const Command& c) { return ToJson(c).dump(); }

Result<Command> CommandFromJson(const nlohmann::json& j) {
  static const std::set<std::string> required_fields = {
      "type", "version", "message_id", "job_id", "attempt", "trace_id", "occurred_at", "data"};
  static const std::set<std::string> allowed_fields = {"type",     "version",     "message_id",
                                                       "job_id",   "video_id",    "attempt",
                                                       "trace_id", "occurred_at", "data"};
  if (auto p = CheckKeys(j, "command", required_fields, allowed_fields)) return Invalid(*p);
  if (!j["type"].is_string()) return Invalid("command.type must be a string");
  const auto& type = j["type"].get_ref<const std::string&>();
  const auto dot = type.rfind(".requested");
  if (dot == std::string::npos || dot + 10 != type.size()) {
    return Invalid("command.type \"" + type + "\" is not a known command type");
  }
  auto stage = StageFromName(std::string_view(type).substr(0, dot));
  if (!stage) return Invalid("command.type \"" + type + "\" is not a known command type");
  if (!j["version"].is_number_integer() || j["version"].get<long long>() != 1) {
    return Invalid("command.version must be 1");
  }
  for (const char* key : {"message_id", "job_id", "trace_id", "occurred_at"}) {
    if (auto p = CheckString(j, key, "command", 128, true)) return Invalid(*p);
  }
  const bool needs_video = *stage != Stage::kDiscovery;
  if (auto p = CheckString(j, "video_id", "command", 128, needs_video)) return Invalid(*p);
  if (!j["attempt"].is_number_integer() || j["attempt"].get<long long>() < 1 ||
      j["attempt"].get<long long>() > 1000) {
    return Invalid("command.attempt must be an integer from 1 to 1000");
  }
  if (auto p = ValidateData(*stage, j["data"])) return Invalid(*p);

  Command c;
  c.stage = *stage;
  c.version = 1;
  c.message_id = j["message_id"].get<std::string>();
  c.job_id = j["job_id"].get<std::string>();
  if (j.contains("video_id")) c.video_id = j["video_id"].get<std::string>();
  c.attempt = j["attempt"].get<int>();
  c.trace_id = j["trace_id"].get<std::string>();
  c.occurred_at = j["occurred_at"].get<std::string>();
  c.data = j["data"];
  return c;
}

Result<Command> ParseCommand(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("body is not valid JSON");
  return CommandFromJson(j);
}

}  // namespace chansum::protocol
