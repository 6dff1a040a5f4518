#pragma once
// The engine ASR_ENGINE names, behind one call: for tools and stages that do not care which.
#include <filesystem>
#include <functional>
#include <string>

#include "chansum/asr/config.hpp"
#include "chansum/asr/transcript.hpp"
#include "chansum/common/result.hpp"

namespace chansum::asr {

using TranscribeFn = std::function<Result<Transcript>(const std::filesystem::path& wav,
                                                      const std::function<bool()>& should_stop)>;

// Creates (and for the embedded engines loads the model of) the engine config.engine names:
// pocketsphinx, whisper or openai. A model that cannot be loaded is a permanent "asr_model"
// error. The function it returns belongs to one thread at a time.
[[nodiscard]] Result<TranscribeFn> MakeEngine(const AsrConfig& config);

// What the transcripts of the engine config.engine names say in their `engine` field:
// "pocketsphinx", "whisper/tiny.en" or "openai/<ASR_API_MODEL>".
[[nodiscard]] std::string TranscriptEngine(const AsrConfig& config);

}  // namespace chansum::asr
