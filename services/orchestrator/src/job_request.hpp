#pragma once
// Parsing of API request bodies and query parameters: pure functions (no HTTP server, no
// database), so the unit tests and the libFuzzer targets (tests/fuzz) call them directly.
#include <string>
#include <string_view>

#include "chansum/common/result.hpp"

namespace chansum::orchestrator {

inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;
inline constexpr int kDefaultMaxVideos = 20;
inline constexpr int kMaxMaxVideos = 500;
inline constexpr int kDefaultListLimit = 20;
inline constexpr int kMaxListLimit = 100;

// A validated POST /jobs body.
struct JobRequest {
  std::string channel;
  std::string channel_url;
  int max_videos = kDefaultMaxVideos;
};
// Validates a POST /jobs body: a JSON object with `channel` (string) and optional `max_videos`
// (integer 1..500); unknown fields are rejected. Errors carry an API error code.
[[nodiscard]] Result<JobRequest> ParseJobRequest(const std::string& body);

// Validates GET /jobs?limit=: a decimal integer from 1 to 100 (no sign, spaces or suffix).
// Permanent "invalid_parameter" otherwise.
[[nodiscard]] Result<int> ParseListLimit(std::string_view value);

}  // namespace chansum::orchestrator
