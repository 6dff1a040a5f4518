#pragma once
#include <optional>

#include <nlohmann/json.hpp>

#include "chansum/asr/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/stage/stage.hpp"

namespace chansum::transcription {

// The job's ASR language check (issue 15 §2): the first of the job's `caption_languages` is the
// language the ASR assumes. A permanent "asr_language_unsupported" error when the engine cannot
// do it (pocketsphinx: English only; the OpenAI engine: a fixed ASR_LANGUAGE that differs);
// nullopt when it can, or the job names no languages.
[[nodiscard]] std::optional<Error> CheckAsrLanguage(const asr::AsrConfig& config,
                                                    const nlohmann::json& job_options);

// transcription: embedded pocketsphinx turns audio.wav into timed segments and text, stored in the
// document store as transcripts/{_id: video_id}. One decoder per worker thread.
[[nodiscard]] stage::StageDefinition Definition();

}  // namespace chansum::transcription
