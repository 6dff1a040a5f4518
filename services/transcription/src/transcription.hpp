#pragma once
#include "chansum/stage/stage.hpp"

namespace chansum::transcription {

// transcription: embedded pocketsphinx turns audio.wav into timed segments and text, stored in the
// document store as transcripts/{_id: video_id}. One decoder per worker thread.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::transcription
