#include "chansum/common/ids.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <random>

namespace chansum {

bool IsUuid(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string NewUuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::array<unsigned char, 16> b{};
  for (std::size_t i = 0; i < b.size(); i += 8) {
    auto r = rng();
    for (std::size_t j = 0; j < 8; ++j) b[i + j] = static_cast<unsigned char>(r >> (j * 8));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string FormatTimestamp(std::chrono::system_clock::time_point tp) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string NowTimestamp() { return FormatTimestamp(std::chrono::system_clock::now()); }

}  // namespace chansum
