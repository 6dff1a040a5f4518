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

bool WarnIfExposed(std::string_view variable, std::string_view addr, std::string_view what,
                   bool authenticated) {
  if (authenticated || IsLoopbackAddress(addr)) return false;
  spdlog::warn(
      "{}={} serves {} beyond this host without authentication: set API_TOKEN, or bind to "
      "127.0.0.1 and put an authenticating proxy in front",
      variable, addr, what);
  return true;
}

}  // namespace chansum::http
