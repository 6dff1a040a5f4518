#pragma once
#include "chansum/asr/transcript.hpp"
#include "chansum/media/subtitles.hpp"
#include "chansum/stage/stage.hpp"

namespace chansum::download {

// The transcript document of a video's captions (source "captions").
[[nodiscard]] asr::Transcript CaptionTranscript(const media::Captions& captions);

// The caption options of one job: its `caption_languages` (POST /jobs, kept in the job's
// options, so every retry and re-enqueued command sees them) in place of CAPTION_LANGUAGES.
[[nodiscard]] media::CaptionOptions JobCaptionOptions(const media::CaptionOptions& defaults,
                                                      const nlohmann::json& job_options);

// download: yt-dlp fetches the video into MEDIA_DIR/<video_id>/.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::download
