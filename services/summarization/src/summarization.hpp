#pragma once
#include "chansum/stage/stage.hpp"

namespace chansum::summarization {

// summarization: the embedded extractive summarizer (TextRank) turns the stored transcript into a
// summary and key points, stored as summaries/{_id: video_id}.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::summarization
