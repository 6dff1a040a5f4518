#pragma once
// Domain events as the analytics service sees them (the event contract: one JSON envelope per
// Kafka record on topic <QUEUE_PREFIX><type>). Parsing is pure and strict: anything that does not
// follow the contract is rejected with a reason (stored in analytics_rejects by the service).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"

namespace chansum::analytics {

// The 7 event types, in pipeline order.
inline constexpr std::array<std::string_view, 7> kEventTypes = {
    "video.discovered",        "video.downloaded", "audio.extracted", "transcription.completed",
    "summarization.completed", "video.failed",     "job.completed"};

// The 4 stages and the event that ends each (download -> video.downloaded, ...).
inline constexpr std::array<std::string_view, 4> kStages = {"download", "audio_extraction",
                                                            "transcription", "summarization"};

// Kafka topics consumed: <prefix><type> for every type.
[[nodiscard]] std::vector<std::string> EventTopics(const std::string& queue_prefix);

// The stage a stage-completion event ends ("video.downloaded" -> "download"), or nullopt.
[[nodiscard]] std::optional<std::string_view> StageOfEventType(std::string_view type);

struct Event {
  std::string event_id;  // lower-case UUID
  std::string type;      // one of kEventTypes
  int version = 1;
  std::string occurred_at;  // RFC 3339 as received (validated)
  std::string job_id;       // lower-case UUID
  std::string video_id;     // empty only for job.completed
  std::string trace_id;     // may be empty

  // Stage-completion events: the stage and how long its handler ran.
  std::string stage;
  std::int64_t duration_ms = -1;

  // video.failed
  std::string failed_stage;
  std::string error_class;  // transient|permanent
  std::string error_code;

  // job.completed
  std::string job_state;  // completed|completed_with_errors|failed
  std::int64_t video_count = 0;
  std::int64_t done = 0;
  std::int64_t failed = 0;
  std::int64_t job_duration_ms = 0;
};

// Parses and validates one envelope. `topic` is the Kafka topic it arrived on; when non-empty the
// envelope's type must match it (topic == queue_prefix + type). Errors are permanent with code
// "malformed_event" and a message naming the first problem found.
[[nodiscard]] Result<Event> ParseEvent(std::string_view payload, std::string_view topic,
                                       std::string_view queue_prefix);

// True for "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex digits, any case).
[[nodiscard]] bool IsUuid(std::string_view s);

// True for an RFC 3339 timestamp with a valid calendar date and time, e.g.
// "2026-11-23T12:00:00.000Z" or "2026-11-23T12:00:00+01:00".
[[nodiscard]] bool IsRfc3339(std::string_view s);

// Linear-interpolation percentile, the same definition as PostgreSQL's percentile_cont:
// sorted values v[0..n-1], position p = q*(n-1), result v[floor p] + (p - floor p) *
// (v[ceil p] - v[floor p]). nullopt for an empty input; q is clamped to [0, 1].
[[nodiscard]] std::optional<double> PercentileCont(std::vector<double> values, double q);

}  // namespace chansum::analytics
