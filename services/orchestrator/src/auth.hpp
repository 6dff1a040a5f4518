#pragma once
// API access: with API_TOKEN set, every API request needs "Authorization: Bearer <token>";
// probes (/healthz, /readyz), /metrics on a loopback listener and the dashboard's static files
// (/ and /ui/...) stay open (the dashboard page asks for the token and sends the header on its API
// calls). The check itself is libs/http's (ServerOptions::api_token, http/auth.hpp).
#include <string_view>

#include "chansum/http/auth.hpp"

namespace chansum::orchestrator {

// GET/HEAD of /healthz, /readyz, / and /ui/..., and of /metrics when `metrics_public` (a loopback
// listener), need no token.
[[nodiscard]] bool IsPublicRequest(std::string_view method, std::string_view path,
                                   bool metrics_public = true);

using http::BearerTokenMatches;

}  // namespace chansum::orchestrator
