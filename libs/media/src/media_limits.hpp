#pragma once
// Limits that more than one media program's options read from the environment.
#include <cstdint>

#include "chansum/common/config.hpp"

namespace chansum::media {

// MAX_MEDIA_SECONDS: the longest media accepted, in seconds (0 = no limit, at most a week); one
// variable for yt-dlp's (download) and ffmpeg's (audio extraction) options alike.
inline std::int64_t MaxMediaSecondsFromEnv(ConfigReader& env, std::int64_t fallback) {
  return env.Int("MAX_MEDIA_SECONDS", fallback, 0, std::int64_t{7} * 24 * 3600);
}

}  // namespace chansum::media
