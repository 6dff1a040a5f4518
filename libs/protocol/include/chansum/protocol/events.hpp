#pragma once
// Wire contract of the domain events (proto/events/<type>.schema.json). Every state change of the
// pipeline emits one event through the transactional outbox, to the Kafka topic
// "<QUEUE_PREFIX><type>" (key: video_id, or job_id for job.completed) and to the RabbitMQ fanout
// exchange "<QUEUE_PREFIX>events" (routing key: the type, message_id: event_id). Delivery is at
// least once: consumers deduplicate on event_id.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

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
};

inline constexpr EventType kAllEventTypes[] = {EventType::kVideoDiscovered,
                                               EventType::kVideoDownloaded,
                                               EventType::kAudioExtracted,
                                               EventType::kTranscriptionCompleted,
                                               EventType::kSummarizationCompleted,
                                               EventType::kVideoFailed,
                                               EventType::kJobCompleted};

[[nodiscard]] std::string_view EventTypeName(EventType type) noexcept;
[[nodiscard]] std::optional<EventType> EventTypeFromName(std::string_view name) noexcept;
// The event that ends a video stage: download -> video.downloaded, audio_extraction ->
// audio.extracted, transcription -> transcription.completed, summarization ->
// summarization.completed; nullopt for discovery (it emits video.discovered per video instead).
[[nodiscard]] std::optional<EventType> StageCompletedEvent(Stage stage) noexcept;

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
  std::string video_id;  // empty for job.completed
  std::string trace_id;
  nlohmann::json data = nlohmann::json::object();
};

// A new event with a fresh event_id (uuid v4) and occurred_at = now.
[[nodiscard]] Event NewEvent(EventType type, std::string job_id, std::string video_id,
                             std::string trace_id, nlohmann::json data);

// Kafka key of the event: video_id, or job_id for job.completed.
[[nodiscard]] const std::string& EventKey(const Event& event) noexcept;

[[nodiscard]] nlohmann::json ToJson(const Event& event);
[[nodiscard]] std::string Serialize(const Event& event);

// Parses and validates an event against the envelope and its type's data schema. Any deviation
// (malformed JSON, unknown type, missing or unknown field, wrong type or range) is a permanent
// "invalid_event" error whose message names the field.
[[nodiscard]] Result<Event> ParseEvent(std::string_view body);
[[nodiscard]] Result<Event> EventFromJson(const nlohmann::json& j);

}  // namespace chansum::protocol
