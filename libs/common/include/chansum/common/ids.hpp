#pragma once
#include <chrono>
#include <string>
#include <string_view>

namespace chansum {

// Random RFC 4122 version-4 UUID, lower-case hex with dashes.
[[nodiscard]] std::string NewUuid();
// True for a UUID in its text form (8-4-4-4-12 hex digits, either case).
[[nodiscard]] bool IsUuid(std::string_view s) noexcept;
// RFC 3339 UTC timestamp with milliseconds, e.g. "2026-11-23T12:00:00.123Z".
[[nodiscard]] std::string FormatTimestamp(std::chrono::system_clock::time_point tp);
[[nodiscard]] std::string NowTimestamp();

}  // namespace chansum
