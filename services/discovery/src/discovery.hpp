#pragma once
#include "chansum/stage/stage.hpp"

namespace chansum::discovery {

// discovery: `yt-dlp --flat-playlist -J <url>` -> one video row and one download command per
// entry, at most max_videos.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::discovery
