#pragma once
#include "chansum/stage/stage.hpp"

namespace chansum::download {

// download: yt-dlp fetches the video into MEDIA_DIR/<video_id>/.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::download
