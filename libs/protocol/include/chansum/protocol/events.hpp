#pragma once
// Wire contract of the domain events (proto/events/<type>.schema.json). Every state change of the
// pipeline emits one event through the transactional outbox, to the Kafka topic
// "<QUEUE_PREFIX><type>" (key: video_id, job_id for job.completed, subscription_id for
// subscription.checked) and to the RabbitMQ fanout
// exchange "<QUEUE_PREFIX>events" (routing key: the type, message_id: event_id). Delivery is at
// least once: consumers deduplicate on event_id.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/ids.hpp"
#include "chansum/common/result.hpp"
#include "chansum/protocol/command.hpp"

namespace chansum::protocol {

enum class EventType {
  kVideoDiscovered,         // "video.discovered"
  kVideoDownloaded,         // "video.downloaded"
  kAudioExtracted,          // "audio.extracted"
  kTranscriptionCompleted,  // "transcription.completed"
  kSummarizationCompleted,  // "summarization.completed"
  kVideoFailed,             // "video.failed"
  kJobCompleted,            // "job.completed"
  kSubscriptionChecked,     // "subscription.checked"
};

inline constexpr EventType kAllEventTypes[] = {
    EventType::kVideoDiscovered,        EventType::kVideoDownloaded,
    EventType::kAudioExtracted,         EventType::kTranscriptionCompleted,
    EventType::kSummarizationCompleted, EventType::kVideoFailed,
    EventType::kJobCompleted,           EventType::kSubscriptionChecked};

[[nodiscard]] std::string_view EventTypeName(EventType type) noexcept;
[[nodiscard]] std::optional<EventType> EventTypeFromName(std::string_view name) noexcept;
// The event that ends a video stage: download -> video.downloaded, audio_extraction ->
// audio.extracted, transcription -> transcription.completed, summarization ->
// summarization.completed; nullopt for discovery (it emits video.discovered per video instead).
[[nodiscard]] std::optional<EventType> StageCompletedEvent(Stage stage) noexcept;

// The stage a stage-completion event ends (video.downloaded -> download, ...); nullopt for
// video.discovered, video.failed and job.completed. The inverse of StageCompletedEvent.
[[nodiscard]] std::optional<Stage> CompletedStage(EventType type) noexcept;

// The formats the schemas name: "uuid" (8-4-4-4-12 hex digits, any case: chansum::IsUuid of
// libs/common) and "date-time" (RFC 3339 with a valid calendar date and time, e.g.
// "2026-11-23T12:00:00.000Z").
using chansum::IsUuid;
[[nodiscard]] bool IsRfc3339(std::string_view s);

// Kafka topic of a type: "<prefix><type>"; all seven topics of a prefix.
[[nodiscard]] std::string EventTopic(std::string_view prefix, EventType type);
[[nodiscard]] std::vector<std::string> EventTopics(std::string_view prefix);
// RabbitMQ fanout exchange of the events: "<prefix>events".
[[nodiscard]] std::string EventsExchange(std::string_view prefix);

struct Event {
  EventType type = EventType::kVideoDiscovered;
  int version = 1;
  std::string event_id;
  std::string occurred_at;
  std::string job_id;
  std::string video_id;  // empty for job.completed and subscription.checked
  std::string trace_id;
  nlohmann::json data = nlohmann::json::object();
};

// A new event with a fresh event_id (uuid v4) and occurred_at = now.
[[nodiscard]] Event NewEvent(EventType type, std::string job_id, std::string video_id,
                             std::string trace_id, nlohmann::json data);

// Whether events of the type carry a video_id (all but job.completed and subscription.checked).
[[nodiscard]] bool HasVideoId(EventType type) noexcept;

// Kafka key of the event: video_id, job_id for job.completed, data.subscription_id for
// subscription.checked (one subscription's checks share a partition, in order).
[[nodiscard]] const std::string& EventKey(const Event& event) noexcept;

[[nodiscard]] nlohmann::json ToJson(const Event& event);
[[nodiscard]] std::string Serialize(const Event& event);

// The one event parser; every consumer uses it. Errors are permanent with code "malformed_event"
// and a message naming the first problem found (the field, or why the body is not an event).
//
// ParseEvent validates an event against the envelope and its type's data schema: malformed JSON,
// an unknown type, a missing or unknown field, a wrong type, range or format (uuid, date-time)
// are all rejected. With UnknownFields::kIgnore, fields the schema does not name are left out of
// the Event instead (a tolerant reader: a consumer keeps working when a newer producer adds a
// field); everything else is checked the same. ParseRawEvent is its first step alone, for a
// consumer that must keep what it cannot interpret (the audit log records every identifiable event,
// even of a newer version): a JSON object whose "event_id" is a string of 1 to kMaxEventIdLength
// characters.
inline constexpr std::size_t kMaxEventIdLength = 256;

struct RawEvent {
  std::string event_id;
  nlohmann::ordered_json json;  // the body as received, key order kept
};

[[nodiscard]] Result<RawEvent> ParseRawEvent(std::string_view body);
enum class UnknownFields { kReject, kIgnore };

[[nodiscard]] Result<Event> ParseEvent(std::string_view body,
                                       UnknownFields unknown = UnknownFields::kReject);
[[nodiscard]] Result<Event> EventFromJson(const nlohmann::json& j,
                                          UnknownFields unknown = UnknownFields::kReject);

// Typed facts of an event that passed ParseEvent (its data is known to be valid).
struct VideoFailedData {
  Stage stage = Stage::kDownload;
  std::string error_class;  // transient|permanent
  std::string error_code;
  std::string error_message;
  std::int64_t attempts = 1;
};
struct JobCompletedData {
  std::string state;  // completed|completed_with_errors|failed
  std::int64_t video_count = 0;
  std::int64_t done = 0;
  std::int64_t failed = 0;
  std::int64_t duration_ms = 0;
};
// subscription.checked: one check of a subscription ended. The envelope's job_id is the check's
// job (the one whose discovery listed the channel; deleted again when nothing was new).
struct SubscriptionCheckedData {
  std::string subscription_id;
  std::string check_id;
  std::string outcome;  // new_videos|no_new_videos|failed
  std::int64_t new_videos = 0;
  std::string started_job_id;  // the job kept to process the new videos; "" when none
  std::string listing;         // full (yt-dlp listed the channel) | feed (the Atom feed sufficed)
  std::string error;           // why the check failed; "" otherwise
};
// data.duration_ms of a stage-completion event; nullopt for the other types.
[[nodiscard]] std::optional<std::int64_t> StageDurationMs(const Event& event);
// The data of a video.failed / job.completed event; nullopt for the other types.
[[nodiscard]] std::optional<VideoFailedData> VideoFailed(const Event& event);
[[nodiscard]] std::optional<JobCompletedData> JobCompleted(const Event& event);
[[nodiscard]] std::optional<SubscriptionCheckedData> SubscriptionChecked(const Event& event);

}  // namespace chansum::protocol
