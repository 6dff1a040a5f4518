#include "chansum/asr/engine.hpp"

#include <memory>

#include "chansum/asr/openai_engine.hpp"
#include "chansum/asr/pocketsphinx_engine.hpp"
#include "chansum/asr/whisper_engine.hpp"

namespace chansum::asr {

Result<TranscribeFn> MakeEngine(const AsrConfig& config) {
  const auto wrap = [](auto engine) -> TranscribeFn {
    std::shared_ptr shared = std::move(engine);
    return [shared](const std::filesystem::path& wav, const std::function<bool()>& should_stop) {
      return shared->Transcribe(wav, should_stop);
    };
  };
  if (config.engine == "openai") return wrap(std::make_unique<OpenAiEngine>(config));
  if (config.engine == "whisper") {
    auto engine = WhisperEngine::Create(config);
    if (!engine.ok()) return engine.error();
    return wrap(std::move(*engine));
  }
  auto engine = PocketsphinxEngine::Create(config);
  if (!engine.ok()) return engine.error();
  return wrap(std::move(*engine));
}

std::string TranscriptEngine(const AsrConfig& config) {
  if (config.engine == "openai") return OpenAiEngine::TranscriptEngine(config);
  if (config.engine == "whisper") return WhisperEngine::TranscriptEngine();
  return PocketsphinxEngine::Name();
}

}  // namespace chansum::asr
