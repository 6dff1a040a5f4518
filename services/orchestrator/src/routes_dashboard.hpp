#pragma once
// The dashboard (services/orchestrator/web/, embedded at build time): GET / serves index.html,
// GET /ui/<file> its scripts, styles and icon. No authentication here: the page asks for the
// API token itself and sends it on every API call.
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>

#include "api.hpp"

namespace chansum::orchestrator {

// Content-Type for a file name by its extension ("application/octet-stream" when unknown).
[[nodiscard]] std::string_view ContentTypeFor(std::string_view path);

void RegisterDashboardRoutes(httplib::Server& server, const ApiDeps& deps);

}  // namespace chansum::orchestrator
