#pragma once
// The orchestrator's HTTP API (proto/openapi.yaml): submit jobs, follow them, read results.
// The API reaches the stages only through PostgreSQL (job rows + outbox) and the queues.
#include <functional>
#include <memory>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chansum/common/result.hpp"
#include "routes_live.hpp"

namespace chansum::docstore {
class DocStore;
}

namespace chansum::orchestrator {

inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;
inline constexpr int kDefaultMaxVideos = 20;
inline constexpr int kMaxMaxVideos = 500;

// Runs `fn` in a PostgreSQL transaction and commits; connection failures become transient
// errors (HTTP 503), anything else a permanent one (HTTP 500).
using TxnRunner = std::function<Status(const std::function<void(pqxx::work&)>& fn)>;

struct ApiDeps {
  TxnRunner txn;
  docstore::DocStore* docs = nullptr;
  std::string queue_prefix;
  std::function<nlohmann::json()> readiness;  // {"ready": bool, "checks": {...}}
  LiveOptions live;                           // GET /jobs/{id}/events
};

// A validated POST /jobs body.
struct JobRequest {
  std::string channel;
  std::string channel_url;
  int max_videos = kDefaultMaxVideos;
};
// Validates a POST /jobs body: a JSON object with `channel` (string) and optional `max_videos`
// (integer 1..500); unknown fields are rejected. Errors carry an API error code.
[[nodiscard]] Result<JobRequest> ParseJobRequest(const std::string& body);

// Installs every route, the JSON error handler, limits and options on `server`.
void RegisterRoutes(httplib::Server& server, const ApiDeps& deps);
// GET /dead-letters, POST /jobs/{id}/retry (routes_reliability.cpp).
void RegisterReliabilityRoutes(httplib::Server& server, const ApiDeps& deps);

}  // namespace chansum::orchestrator
