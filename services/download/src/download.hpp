#pragma once
#include "chansum/asr/transcript.hpp"
#include "chansum/media/subtitles.hpp"
#include "chansum/stage/stage.hpp"

namespace chansum::download {

// The transcript document of a video's captions (source "captions").
[[nodiscard]] asr::Transcript CaptionTranscript(const media::Captions& captions);

// download: yt-dlp fetches the video into MEDIA_DIR/<video_id>/.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::download
