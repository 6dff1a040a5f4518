#pragma once
// Wire contract of the stage command queues (proto/commands/*.schema.json). One envelope for every
// stage; the stage-specific fields live in `data`.
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"

namespace chansum::protocol {

enum class Stage { kDiscovery, kDownload, kAudioExtraction, kTranscription, kSummarization };

inline constexpr Stage kAllStages[] = {Stage::kDiscovery, Stage::kDownload, Stage::kAudioExtraction,
                                       Stage::kTranscription, Stage::kSummarization};

// "discovery", "download", "audio_extraction", "transcription", "summarization"
[[nodiscard]] std::string_view StageName(Stage stage) noexcept;
[[nodiscard]] std::optional<Stage> StageFromName(std::string_view name) noexcept;
// The stage after `stage` for one video; nullopt after summarization (and after discovery, which
// fans out instead of passing a video on).
[[nodiscard]] std::optional<Stage> NextStage(Stage stage) noexcept;
// "<stage>.requested"
[[nodiscard]] std::string CommandType(Stage stage);

// Queue names: "<prefix><stage>", plus ".retry" and ".dlq". The prefix (env QUEUE_PREFIX, default
// empty) lets separate deployments or test runs share one broker.
[[nodiscard]] std::string QueueName(std::string_view prefix, Stage stage);

struct Command {
  Stage stage = Stage::kDiscovery;
  int version = 1;
  std::string message_id;
  std::string job_id;
  std::string video_id;  // empty for discovery
  int attempt = 1;
  std::string trace_id;
  std::string occurred_at;
  nlohmann::json data = nlohmann::json::object();
};

// Builds a new command with a fresh message_id and occurred_at = now.
[[nodiscard]] Command NewCommand(Stage stage, std::string job_id, std::string video_id,
                                 std::string trace_id, nlohmann::json data, int attempt = 1);

[[nodiscard]] nlohmann::json ToJson(const Command& command);
[[nodiscard]] std::string Serialize(const Command& command);

// Parses and validates a command against the envelope and its stage's data schema. Any deviation
// (malformed JSON, missing or unknown field, wrong type) is a permanent error whose message names
// the field; such messages are dead-lettered with that reason.
[[nodiscard]] Result<Command> ParseCommand(std::string_view body);
[[nodiscard]] Result<Command> CommandFromJson(const nlohmann::json& j);

}  // namespace chansum::protocol
