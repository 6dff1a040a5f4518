#include "event.hpp"

#include <algorithm>
#include <cmath>

#include "chansum/common/strings.hpp"
#include "chansum/protocol/events.hpp"

namespace chansum::analytics {

Result<Event> ParseEvent(std::string_view payload, std::string_view topic,
                         std::string_view queue_prefix) {
  // A tolerant reader: fields a newer producer adds do not make analytics reject its events.
  auto parsed = protocol::ParseEvent(payload, protocol::UnknownFields::kIgnore);
  if (!parsed.ok()) return std::move(parsed).error();
  const protocol::Event& p = *parsed;
  Event e;
  e.type = std::string(protocol::EventTypeName(p.type));
  if (!topic.empty() && protocol::EventTopic(queue_prefix, p.type) != topic) {
    return Error::Permanent("malformed_event", "event type \"" + e.type + "\" arrived on topic \"" +
                                                   std::string(topic) + "\" (expected \"" +
                                                   protocol::EventTopic(queue_prefix, p.type) +
                                                   "\")");
  }
  e.event_id = AsciiLower(p.event_id);
  e.version = p.version;
  e.occurred_at = p.occurred_at;
  e.job_id = AsciiLower(p.job_id);
  e.video_id = p.video_id;
  e.trace_id = p.trace_id;
  if (auto stage = protocol::CompletedStage(p.type)) {
    e.stage = std::string(protocol::StageName(*stage));
    e.duration_ms = *protocol::StageDurationMs(p);
  } else if (auto failed = protocol::VideoFailed(p)) {
    e.failed_stage = std::string(protocol::StageName(failed->stage));
    e.error_class = failed->error_class;
    e.error_code = failed->error_code;
  } else if (auto job = protocol::JobCompleted(p)) {
    e.job_state = job->state;
    e.video_count = job->video_count;
    e.done = job->done;
    e.failed = job->failed;
    e.job_duration_ms = job->duration_ms;
  } else if (auto check = protocol::SubscriptionChecked(p)) {
    e.subscription_id = AsciiLower(check->subscription_id);
    e.check_outcome = check->outcome;
    e.new_videos = check->new_videos;
    e.started_job_id = AsciiLower(check->started_job_id);
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
