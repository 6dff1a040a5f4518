#pragma once
// The orchestrator's HTTP API (proto/openapi.yaml): submit jobs, follow them, read results.
// The API reaches the stages only through PostgreSQL (job rows + outbox) and the queues.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chansum/common/result.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/text/readable.hpp"
#include "job_request.hpp"
#include "routes_live.hpp"

namespace chansum::docstore {
class DocStore;
}

namespace chansum::orchestrator {

// The JSON answers every route file of the API sends (chansum/http/json_api.hpp).
using http::SendError;
using http::SendFailure;
using http::SendJson;

class JobVersions;

// Runs `fn` in a PostgreSQL transaction and commits; connection failures become transient
// errors (HTTP 503), anything else a permanent one (HTTP 500).
using TxnRunner = std::function<Status(const std::function<void(pqxx::work&)>& fn)>;

struct ApiDeps {
  TxnRunner txn;
  docstore::DocStore* docs = nullptr;
  std::string queue_prefix;
  std::function<nlohmann::json()> readiness;  // {"ready": bool, "checks": {...}}
  LiveOptions live;                           // GET /jobs/{id}/events
  std::string api_token;                      // API_TOKEN: when set, calls need the bearer token
  // SSRF: checks a channel URL before a job is created (net::DestinationPolicy::Check); a
  // "destination_not_allowed" refusal is answered 422 and creates nothing. Empty: no check.
  std::function<Status(const std::string& url)> check_destination;
  bool metrics_public = true;  // /metrics without the token (loopback listener)
  http::ServerLimits limits;   // HTTP_MAX_CONNECTIONS, HTTP_READ_TIMEOUT, ...
  // Versions of polled jobs kept in memory (GET /jobs/{id} + If-None-Match -> 304 without a
  // database round trip). Null: every request reads the database.
  JobVersions* job_versions = nullptr;
  // SUBSCRIPTION_MIN_EVERY: the shortest interval POST/PATCH /subscriptions accept, seconds.
  int subscription_min_every_s = 300;
  // How a transcript's txt is polished (TEXT_PROPER_NOUNS: its proper nouns).
  text::ReadableOptions readable;
};

// SSRF check of a POST /jobs or POST /subscriptions channel (deps.check_destination): true when
// the request was refused (the error response is written).
bool RefuseDestination(const ApiDeps& deps, const JobRequest& request, httplib::Response& res);

// The ?limit= of a list route: `fallback` when absent, 1..max when valid; nullopt after a 400.
std::optional<int> ListLimitParam(const httplib::Request& req, httplib::Response& res, int fallback,
                                  int max = kMaxListLimit);

// Installs every route, the JSON error handler, limits and options on `server`.
void RegisterRoutes(http::Server& server, const ApiDeps& deps);
// Output routes (routes_outputs.cpp): transcript/summary formats, digest, export.
void RegisterOutputRoutes(httplib::Server& server, const ApiDeps& deps);
// GET /dead-letters, POST /jobs/{id}/retry (routes_reliability.cpp).
void RegisterReliabilityRoutes(httplib::Server& server, const ApiDeps& deps);
// /subscriptions (subscriptions.cpp).
void RegisterSubscriptionRoutes(httplib::Server& server, const ApiDeps& deps);

}  // namespace chansum::orchestrator
