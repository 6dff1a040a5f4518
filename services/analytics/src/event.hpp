#pragma once
// Domain events as the analytics service stores them: the facts of a protocol::Event (parsed by
// the one parser, protocol::ParseEvent) flattened into the columns analytics keeps. Anything that
// does not follow the contract is rejected with the parser's reason (stored in analytics_rejects
// by the service).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chansum/common/result.hpp"

namespace chansum::analytics {

struct Event {
  std::string event_id;  // lower-case UUID
  std::string type;      // protocol::EventTypeName
  int version = 1;
  std::string occurred_at;  // RFC 3339 as received (validated)
  std::string job_id;       // lower-case UUID
  std::string video_id;     // empty for job.completed and subscription.checked
  std::string trace_id;

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

  // subscription.checked
  std::string subscription_id;  // lower-case UUID
  std::string check_outcome;    // new_videos|no_new_videos|failed
  std::int64_t new_videos = 0;
  std::string started_job_id;  // "" when the check started no job
};

// Parses one envelope with protocol::ParseEvent. `topic` is the Kafka topic it arrived on; when
// non-empty the envelope's type must match it (topic == queue_prefix + type). Errors are
// permanent with code "malformed_event" and a message naming the first problem found.
[[nodiscard]] Result<Event> ParseEvent(std::string_view payload, std::string_view topic,
                                       std::string_view queue_prefix);

// Linear-interpolation percentile, the same definition as PostgreSQL's percentile_cont:
// sorted values v[0..n-1], position p = q*(n-1), result v[floor p] + (p - floor p) *
// (v[ceil p] - v[floor p]). nullopt for an empty input; q is clamped to [0, 1].
[[nodiscard]] std::optional<double> PercentileCont(std::vector<double> values, double q);

}  // namespace chansum::analytics
