#pragma once
// API access: with API_TOKEN set, every API request needs "Authorization: Bearer <token>";
// probes (/healthz, /readyz, /metrics) and the dashboard's static files (/ and /ui/...) stay open
// (the dashboard page asks for the token and sends the header on its API calls).
#include <string>
#include <string_view>

#include <httplib.h>

namespace chansum::orchestrator {

// GET/HEAD of /healthz, /readyz, /metrics, / and /ui/... need no token.
[[nodiscard]] bool IsPublicRequest(std::string_view method, std::string_view path);

// True when `authorization` is "Bearer <token>" (scheme case-insensitive, one or more spaces) and
// the credential equals `token`; compared in time independent of where they differ.
[[nodiscard]] bool BearerTokenMatches(std::string_view authorization, std::string_view token);

// The check as a pre-routing handler (it runs before routes and static files; pass it as
// http::ServerOptions::pre_routing so the request metrics keep timing every request). A request
// that fails it gets 401 {"error": {"code": "unauthorized", ...}} with
// `WWW-Authenticate: Bearer realm="chansum"`. An empty token gives an empty handler (open API).
[[nodiscard]] httplib::Server::HandlerWithResponse AuthHandler(const std::string& token);

}  // namespace chansum::orchestrator
