#pragma once
// A listening address beyond this host without authentication deserves a warning at start.
#include <string_view>

namespace chansum::http {

// "127.0.0.1" (any 127.x.y.z), "::1", "[::1]" and "localhost" are loopback; everything else
// ("0.0.0.0", "::", a LAN address, a host name) may be reachable from other machines.
[[nodiscard]] bool IsLoopbackAddress(std::string_view addr) noexcept;

// Logs a warning (and returns true) when `addr` is not loopback and `authenticated` is false:
// "<variable>=<addr> serves <what> beyond this host without authentication ...".
bool WarnIfExposed(std::string_view variable, std::string_view addr, std::string_view what,
                   bool authenticated);

}  // namespace chansum::http
