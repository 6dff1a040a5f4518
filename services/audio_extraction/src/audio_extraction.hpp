#pragma once
#include "chansum/stage/stage.hpp"

namespace chansum::audio_extraction {

// audio_extraction: ffmpeg turns the downloaded media into MEDIA_DIR/<video_id>/audio.wav
// (16 kHz mono 16-bit PCM). The media file is removed afterwards unless KEEP_MEDIA=true.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::audio_extraction
