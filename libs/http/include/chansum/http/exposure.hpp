#pragma once
// Secure by default: a server bound beyond loopback runs only with a token (API_TOKEN), unless
// the operator says an authenticating proxy is in front (ALLOW_UNAUTHENTICATED=1, logged loudly).
#include <string>
#include <string_view>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/http/json_api.hpp"

namespace chansum::http {

// "127.0.0.1" (any 127.x.y.z), "::1", "[::1]" and "localhost" are loopback; everything else
// ("0.0.0.0", "::", a LAN address, a host name) may be reachable from other machines.
[[nodiscard]] bool IsLoopbackAddress(std::string_view addr) noexcept;

// Who may call a server, from the environment.
struct AccessConfig {
  std::string api_token;               // API_TOKEN (never logged)
  bool allow_unauthenticated = false;  // ALLOW_UNAUTHENTICATED: serve beyond loopback without it
  ServerLimits limits;  // HTTP_MAX_CONNECTIONS, HTTP_READ_TIMEOUT, HTTP_KEEP_ALIVE_TIMEOUT

  static AccessConfig FromEnv(ConfigReader& env);

  // The ServerOptions fields that follow from this and the listening address: the token, and
  // /metrics open only on loopback.
  void ApplyTo(ServerOptions& options, std::string_view addr) const;
};

// Whether a server listening on `addr` (named by `variable`, e.g. "HTTP_ADDR") may start: Ok on
// loopback, with a token, or with ALLOW_UNAUTHENTICATED (then a warning says that `what` is open
// beyond this host); otherwise a permanent error that names the variables to set. Callers log it
// and exit non-zero.
[[nodiscard]] Status CheckExposure(std::string_view variable, std::string_view addr,
                                   std::string_view what, const AccessConfig& access);

// CheckExposure for a main: a refusal is logged as critical and true returned (exit 2).
[[nodiscard]] bool ExposureRefused(std::string_view variable, std::string_view addr,
                                   std::string_view what, const AccessConfig& access);

}  // namespace chansum::http
