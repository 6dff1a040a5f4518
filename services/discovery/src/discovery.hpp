#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "chansum/media/ytdlp.hpp"
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

// discovery: `yt-dlp --flat-playlist -J <url>` -> one video row and one download command per
// entry, at most max_videos.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::discovery
