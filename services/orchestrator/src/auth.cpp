#include "auth.hpp"

namespace chansum::orchestrator {

bool IsPublicRequest(std::string_view method, std::string_view path, bool metrics_public) {
  if (method != "GET" && method != "HEAD") return false;
  return http::IsProbeRequest(method, path) || (metrics_public && path == "/metrics") ||
         path == "/" || path == "/ui" || path.starts_with("/ui/");
}

}  // namespace chansum::orchestrator
