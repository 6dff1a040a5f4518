#include "chansum/http/exposure.hpp"

#include <spdlog/spdlog.h>

namespace chansum::http {

bool IsLoopbackAddress(std::string_view addr) noexcept {
  if (addr == "localhost" || addr == "::1" || addr == "[::1]") return true;
  // 127.0.0.0/8, written as a dotted quad of digits only.
  if (!addr.starts_with("127.")) return false;
  int dots = 0;
  int digits = 0;
  for (char c : addr) {
    if (c == '.') {
      if (digits == 0) return false;
      ++dots;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0;
}

AccessConfig AccessConfig::FromEnv(ConfigReader& env) {
  AccessConfig c;
  c.api_token = env.String("API_TOKEN", "");
  c.allow_unauthenticated = env.Bool("ALLOW_UNAUTHENTICATED", false);
  c.limits.max_connections =
      static_cast<std::size_t>(env.Int("HTTP_MAX_CONNECTIONS", 1024, 1, 100000));
  c.limits.read_timeout = std::chrono::duration_cast<std::chrono::seconds>(
      env.Duration("HTTP_READ_TIMEOUT", c.limits.read_timeout));
  c.limits.keep_alive_timeout = std::chrono::duration_cast<std::chrono::seconds>(
      env.Duration("HTTP_KEEP_ALIVE_TIMEOUT", c.limits.keep_alive_timeout));
  c.limits.max_connections_per_client =
      static_cast<std::size_t>(env.Int("HTTP_MAX_CONNECTIONS_PER_CLIENT", 128, 0, 100000));
  c.limits.client_prefix_v4 =
      static_cast<int>(env.Int("HTTP_CLIENT_PREFIX_V4", c.limits.client_prefix_v4, 8, 32));
  c.limits.client_prefix_v6 =
      static_cast<int>(env.Int("HTTP_CLIENT_PREFIX_V6", c.limits.client_prefix_v6, 32, 128));
  c.limits.request_timeout = std::chrono::duration_cast<std::chrono::seconds>(
      env.Duration("HTTP_REQUEST_TIMEOUT", c.limits.request_timeout));
  if (c.limits.read_timeout.count() < 1) env.AddProblem("HTTP_READ_TIMEOUT must be at least 1s");
  if (c.limits.keep_alive_timeout.count() < 1) {
    env.AddProblem("HTTP_KEEP_ALIVE_TIMEOUT must be at least 1s");
  }
  return c;
}

void AccessConfig::ApplyTo(ServerOptions& options, std::string_view addr) const {
  options.api_token = api_token;
  options.metrics_public = IsLoopbackAddress(addr);
  options.limits = limits;
}

Status CheckExposure(std::string_view variable, std::string_view addr, std::string_view what,
                     const AccessConfig& access) {
  if (!access.api_token.empty() || IsLoopbackAddress(addr)) return OkStatus();
  if (access.allow_unauthenticated) {
    spdlog::warn(
        "ALLOW_UNAUTHENTICATED is set: {}={} serves {} beyond this host WITHOUT authentication; "
        "anyone who reaches this address can use it unless an authenticating proxy is in front",
        variable, addr, what);
    return OkStatus();
  }
  return Error::Permanent(
      "unauthenticated_exposure",
      std::string(variable) + "=" + std::string(addr) + " would serve " + std::string(what) +
          " beyond this host without authentication: set API_TOKEN (e.g. `openssl rand -hex "
          "32`), bind to 127.0.0.1, or set ALLOW_UNAUTHENTICATED=1 if an authenticating proxy "
          "is in front");
}

bool ExposureRefused(std::string_view variable, std::string_view addr, std::string_view what,
                     const AccessConfig& access) {
  const Status st = CheckExposure(variable, addr, what, access);
  if (st.ok()) return false;
  spdlog::critical("{}", st.error().message);
  return true;
}

}  // namespace chansum::http
