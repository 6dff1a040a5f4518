#pragma once
// Shared plumbing of the project's JSON HTTP endpoints (cpp-httplib 0.11): every error is
// {"error": {"code": "...", "message": "..."}}, unmatched routes and oversized bodies included;
// exceptions become 500s without leaking details; /healthz and /readyz look the same everywhere.
#include <functional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"

namespace chansum::http {

// {"error": {"code": ..., "message": ...}}
[[nodiscard]] std::string ErrorBody(const std::string& code, const std::string& message);

template <class Json>
void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& code,
               const std::string& message);

// A failed dependency call: transient -> 503 "unavailable" with Retry-After, otherwise 500
// "internal". The detail goes to the log, not to the client.
void SendFailure(httplib::Response& res, const Error& error);

struct ServerOptions {
  std::size_t max_body_bytes = 64 * 1024;
  bool log_requests_at_info = true;  // else debug
  // Runs before routing, after the request timer started (e.g. an authentication check): return
  // Handled to answer the request itself (the answer is still logged and counted), Unhandled to
  // let routing go on. Empty: none.
  httplib::Server::HandlerWithResponse pre_routing = {};
};

// set_tcp_nodelay, payload limit, JSON error handler (404/405/413/...), exception handler,
// request log and request metrics (chansum_http_requests_total{method,route,status} and
// chansum_http_request_duration_seconds{method,route}, timed from the pre-routing handler this
// installs: pass your own check as options.pre_routing, do not call set_pre_routing_handler
// yourself, or the latency histogram is lost).
void ConfigureJsonServer(httplib::Server& server, const ServerOptions& options = {});

// Readiness: {"ready": bool, "checks": {"postgres": true, ...}}.
using ReadinessProbe = std::function<nlohmann::json()>;
// GET /healthz (always 200 while the process serves), GET /readyz (200 or 503 from `probe`) and
// GET /metrics (AddMetricsRoute).
void AddHealthRoutes(httplib::Server& server, ReadinessProbe probe);

// GET /metrics: metrics::Registry::Default() in the Prometheus text format 0.0.4.
void AddMetricsRoute(httplib::Server& server);

// The route label of a request path for metrics: every second segment is taken for an id
// ("/jobs/3f2a/retry" -> "/jobs/{id}/retry", "/videos/abc/summary" -> "/videos/{id}/summary"),
// which keeps the label set bounded. Paths no route matched are labelled "unmatched".
[[nodiscard]] std::string RouteLabel(const std::string& path);

}  // namespace chansum::http
