#pragma once
// Shared plumbing of the project's JSON HTTP endpoints (cpp-httplib 0.11): every error is
// {"error": {"code": "...", "message": "..."}}, unmatched routes and oversized bodies included;
// exceptions become 500s without leaking details; /healthz and /readyz look the same everywhere.
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"
#include "chansum/http/auth.hpp"
#include "chansum/http/server.hpp"

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

// How many clients a server serves at once, and how long it waits for them (HTTP_MAX_CONNECTIONS,
// HTTP_READ_TIMEOUT, HTTP_KEEP_ALIVE_TIMEOUT; docs/configuration.md). Every connection gets a
// thread of its own up to `max_connections`, so clients that connect and send nothing, or half a
// request line, hold one thread each until `read_timeout` and never keep the others waiting;
// connections beyond the cap wait in a queue for the next free thread.
// One client (an address's network, below) holds at most `max_connections_per_client` of them at
// once (0: no cap; HTTP_MAX_CONNECTIONS_PER_CLIENT), and a request whose head and body are not in
// within `request_timeout` of its first byte is cut off, however steadily it trickles in (0: no
// limit; HTTP_REQUEST_TIMEOUT). Both need an http::Server (server.hpp).
struct ServerLimits {
  std::size_t max_connections = 1024;
  std::chrono::seconds read_timeout{5};        // no byte of a request for this long: closed
  std::chrono::seconds keep_alive_timeout{5};  // idle between two requests for this long: closed
  std::size_t max_connections_per_client = 128;
  // One client for that cap: an IPv4 address's /client_prefix_v4 (HTTP_CLIENT_PREFIX_V4), an IPv6
  // address's /client_prefix_v6 (HTTP_CLIENT_PREFIX_V6); IPv4-mapped IPv6 counts as IPv4.
  int client_prefix_v4 = 32;
  int client_prefix_v6 = 64;
  std::chrono::seconds request_timeout{10};
};

struct ServerOptions {
  std::size_t max_body_bytes = 64 * 1024;
  bool log_requests_at_info = true;  // else debug
  // Runs before routing, after the request timer started (e.g. an authentication check): return
  // Handled to answer the request itself (the answer is still logged and counted), Unhandled to
  // let routing go on. Empty: none.
  httplib::Server::HandlerWithResponse pre_routing = {};
  // Origins (e.g. "https://dash.example.org") besides the server's own whose browser pages may
  // send state-changing requests (see GuardRequest). Empty: only same-origin pages.
  std::vector<std::string> allowed_origins = {};
  // API_TOKEN. Set: every request needs "Authorization: Bearer <token>" (checked in constant
  // time, before routing and before `pre_routing`) except the probes (IsProbeRequest), /metrics
  // while `metrics_public`, and what `is_public` admits; the others get 401. /readyz then shows
  // its "errors" (which may name hosts and ports) only to callers with the token. Empty: no check.
  std::string api_token = {};
  // GET /metrics without the token: true on a loopback listener, false beyond it.
  bool metrics_public = true;
  PublicRequest is_public = {};
  ServerLimits limits = {};
};

// What every JSON server refuses before routing (and before any body is read), whatever the
// route, so a hostile client cannot get past the payload limit or act for another site:
// - a body sent chunked (411: bodies need a Content-Length, which the payload limit checks) or
//   compressed (415: a small gzip body can expand past the limit);
// - a body that is not JSON (415; a cross-site form or text/plain POST, the requests a browser
//   sends to another site without asking it first);
// - a state-changing request (not GET/HEAD/OPTIONS) from a browser page of another origin (403:
//   its Origin header is neither this server's own scheme://Host nor in `allowed_origins`);
// - more than one byte range (416: cpp-httplib would answer thousands of ranges of one file
//   with a multipart body many times the file's size).
// Returns true when it answered the request.
bool GuardRequest(const httplib::Request& req, httplib::Response& res,
                  const std::vector<std::string>& allowed_origins);

// set_tcp_nodelay, payload limit, connection limits (ServerLimits: a thread per connection up to
// the cap, read and keep-alive timeouts, the cap per client and the request deadline), the bearer
// check (ServerOptions::api_token), JSON error handler (404/405/413/...), exception handler,
// request log and request metrics (chansum_http_requests_total{method,route,status} and
// chansum_http_request_duration_seconds{method,route}, timed from the pre-routing handler this
// installs: pass your own check as options.pre_routing, do not call set_pre_routing_handler
// yourself, or the latency histogram is lost).
void ConfigureJsonServer(Server& server, const ServerOptions& options = {});

// Readiness: {"ready": bool, "checks": {"postgres": true, ...}}.
using ReadinessProbe = std::function<nlohmann::json()>;
// GET /healthz (always 200 while the process serves), GET /readyz (200 or 503 from `probe`) and
// GET /metrics (AddMetricsRoute). /readyz drops the probe's "errors" for a caller without the
// token when the server has one (ConfigureJsonServer with ServerOptions::api_token).
void AddHealthRoutes(httplib::Server& server, ReadinessProbe probe);

// GET /metrics: metrics::Registry::Default() in the Prometheus text format 0.0.4.
void AddMetricsRoute(httplib::Server& server);

// The route label of a request path for metrics: every second segment is taken for an id
// ("/jobs/3f2a/retry" -> "/jobs/{id}/retry", "/videos/abc/summary" -> "/videos/{id}/summary"),
// which keeps the label set bounded. Paths no route matched are labelled "unmatched".
[[nodiscard]] std::string RouteLabel(const std::string& path);

}  // namespace chansum::http
