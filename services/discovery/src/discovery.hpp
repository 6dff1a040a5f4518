#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/media/ytdlp.hpp"
#include "chansum/net/destination.hpp"
#include "chansum/stage/stage.hpp"

namespace chansum::discovery {

// POST /jobs filters, carried in the discovery command's data.
struct Filters {
  std::string published_after;           // RFC 3339 UTC ("2024-03-01T00:00:00Z") or empty
  std::optional<double> max_duration_s;  // nullopt: no limit
};
[[nodiscard]] Filters FiltersFromCommand(const nlohmann::json& data);
// False for live streams, upcoming premieres and entries the filters exclude.
[[nodiscard]] bool PassesFilters(const media::VideoEntry& entry, const Filters& filters);

// Checks every listed video URL against the fetch policy (SSRF): a refused one gets `refused`
// set (it is recorded as a failed video with that reason). A transient resolver error is returned
// (the discovery is retried).
[[nodiscard]] Status ScreenDestinations(std::vector<store::DiscoveredVideo>& videos,
                                        const net::DestinationPolicy& policy);

// The feed pre-check's decision from the feed's video ids and the ids it showed last time
// (`seen`, nullopt before the first read): nothing new when every id is in `seen` (an empty
// feed only when `seen` was empty too).
[[nodiscard]] bool FeedShowsNothingNew(const std::vector<std::string>& feed_ids,
                                       const std::optional<std::vector<std::string>>& seen);

// After a full listing, the feed ids a check records as seen (facts["feed_video_ids"]) are only
// those the listing had or an earlier check had seen (`feed["seen"]`): a video the feed shows
// before the channel's listing does is looked for again at the next check, not taken as known.
void KeepListedFeedIds(const nlohmann::json& feed, const std::vector<media::VideoEntry>& entries,
                       nlohmann::json& facts);

// discovery: `yt-dlp --flat-playlist -J <url>` -> one video row and one download command per
// entry, at most max_videos. The channel URL and every entry URL pass the fetch policy
// (FETCH_ALLOWLIST, libs/net) first.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::discovery
