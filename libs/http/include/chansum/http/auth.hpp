#pragma once
// Bearer-token access to the project's HTTP servers (the orchestrator's API, the analytics API and
// the health/metrics listeners): one constant-time comparison and one 401 answer for all of them.
// ConfigureJsonServer (json_api.hpp) installs the check from ServerOptions::api_token.
#include <functional>
#include <string_view>

#include <httplib.h>

namespace chansum::http {

// True when `authorization` is "Bearer <token>" (scheme case-insensitive, one or more spaces) and
// the credential equals `token`; compared in time independent of where they differ. An empty
// `token` never matches.
[[nodiscard]] bool BearerTokenMatches(std::string_view authorization, std::string_view token);

// GET/HEAD of /healthz or /readyz: the probes of docker-compose and Kubernetes, which send no
// token. Open on every listener (/readyz then says only ready or not and which checks failed).
[[nodiscard]] bool IsProbeRequest(std::string_view method, std::string_view path);

// A request a server answers without the token besides the probes (e.g. the dashboard's files).
using PublicRequest = std::function<bool(std::string_view method, std::string_view path)>;

// The 401 {"error": {"code": "unauthorized", ...}} with `WWW-Authenticate: Bearer realm="chansum"`.
void SendUnauthorized(const httplib::Request& req, httplib::Response& res);

}  // namespace chansum::http
