#pragma once
// Live routes: GET /jobs/{id}/events (Server-Sent Events over the job_changes feed) and
// POST /jobs/{id}/cancel.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace chansum::orchestrator {

struct ApiDeps;

struct LiveOptions {
  int heartbeat_seconds = 15;      // EVENTS_HEARTBEAT_SECONDS: ": heartbeat" comment interval
  int poll_ms = 500;               // EVENTS_POLL_MS: how often a stream reads new changes
  int max_streams = 64;            // EVENTS_MAX_STREAMS: concurrent streams (more get 503)
  int settle_ms = 5000;            // a change row older than this has no lower seq still to commit
  int retry_ms = 2000;             // "retry:" hint sent to EventSource clients
  std::function<bool()> stopping;  // true once the server is shutting down (ends the streams)
};

// One Server-Sent Event: "event: <type>\nid: <id>\ndata: <json>\n\n".
[[nodiscard]] std::string FormatSseEvent(const std::string& type, std::int64_t id,
                                         const nlohmann::ordered_json& data);
// The resume point from a Last-Event-ID header or ?last_event_id=: a non-negative integer, or
// nullopt (absent or not a number: the stream starts with a snapshot).
[[nodiscard]] std::optional<std::int64_t> ParseLastEventId(const std::string& value);
// A job state that never changes again (the stream ends after it).
[[nodiscard]] bool IsTerminalJobState(const std::string& state);

// Installs the routes; also sizes the server's thread pool for `max_streams` open streams.
void RegisterLiveRoutes(httplib::Server& server, const ApiDeps& deps);

}  // namespace chansum::orchestrator
