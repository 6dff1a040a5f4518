#pragma once
// The HTTP API of the analytics service (JSON; errors are {"error":{"code","message"}}):
//   GET /analytics              overall figures
//   GET /jobs/{id}/analytics    one job's figures (400 for a malformed id, 404 when no event of
//                               that job was applied)
//   GET /healthz                liveness
//   GET /readyz                 readiness: PostgreSQL, Kafka and the schema (503 when not ready)
//   GET /metrics
// With API_TOKEN set, all but the probes (and /metrics on a loopback address) need the token.
#include <functional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "chansum/http/json_api.hpp"
#include "chansum/pg/pool.hpp"

namespace chansum::analytics {

struct ApiDeps {
  pg::ConnectionPool* pool = nullptr;
  // {"ready": bool, "checks": {...}}
  std::function<nlohmann::json()> readiness;
  // False until the schema is in place: analytics requests get 503 until then.
  std::function<bool()> schema_ready;
  // Token and limits (http::AccessConfig::ApplyTo): with a token, every route but the probes (and
  // /metrics on loopback) needs "Authorization: Bearer <API_TOKEN>".
  http::ServerOptions server{64 * 1024, false};
};

void RegisterRoutes(http::Server& server, const ApiDeps& deps);

}  // namespace chansum::analytics
