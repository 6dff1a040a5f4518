#pragma once
// Parsing of API request bodies and query parameters: pure functions (no HTTP server, no
// database), so the unit tests and the libFuzzer targets (tests/fuzz) call them directly.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chansum/common/result.hpp"

namespace chansum::orchestrator {

inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;
inline constexpr int kDefaultMaxVideos = 20;
inline constexpr int kMaxMaxVideos = 500;
inline constexpr std::size_t kMaxCaptionLanguages = 10;
inline constexpr int kDefaultListLimit = 20;
inline constexpr int kMaxListLimit = 100;
// GET /jobs/{id}?limit=: videos per page.
inline constexpr int kDefaultVideoLimit = 500;
inline constexpr int kMaxVideoLimit = 1000;

// A validated POST /jobs body.
struct JobRequest {
  std::string channel;
  std::string channel_url;
  // True when the user typed a URL (its host is theirs to choose); false for an @handle or a
  // channel id, whose URL names YouTube.
  bool user_url = false;
  int max_videos = kDefaultMaxVideos;
  std::string published_after;           // RFC 3339 UTC ("2024-03-01T00:00:00Z"), empty = any
  std::optional<double> max_duration_s;  // seconds, nullopt = any
  // Caption languages in order of preference (issue 15 §2): which subtitles download takes
  // (manual before automatic, in this order) and the language the ASR assumes (the first).
  // Empty: the stages' CAPTION_LANGUAGES.
  std::vector<std::string> caption_languages;
};
// "2024-03-01" or "2024-03-01T10:00:00Z" -> "2024-03-01T00:00:00Z" / as given; nullopt when it is
// not a valid UTC date (time).
[[nodiscard]] std::optional<std::string> NormalizePublishedAfter(const std::string& text);
// Validates a POST /jobs body: a JSON object with `channel` (string) and optional `max_videos`
// (integer 1..500), `published_after` (date or RFC 3339 UTC) and `max_duration_s` (positive
// number of seconds, at most 7 days), `caption_languages` (1 to 10 codes like "en" or "pt-BR");
// unknown fields are rejected. Errors carry an API error
// code.
[[nodiscard]] Result<JobRequest> ParseJobRequest(const std::string& body);

// Validates GET /jobs?limit= (and GET /jobs/{id}?limit= with max kMaxVideoLimit): a decimal
// integer from 1 to `max` (no sign, spaces or suffix).
// Permanent "invalid_parameter" otherwise.
[[nodiscard]] Result<int> ParseListLimit(std::string_view value, int max = kMaxListLimit);

}  // namespace chansum::orchestrator
