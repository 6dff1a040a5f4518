#include "chansum/asr/config.hpp"

#include <sstream>

#include "chansum/asr/whisper_engine.hpp"

#ifndef CHANSUM_WHISPER_MODEL_DIR
#define CHANSUM_WHISPER_MODEL_DIR "/opt/chansum/whisper/model"
#endif

namespace chansum::asr {

std::filesystem::path DefaultWhisperModelDir() { return CHANSUM_WHISPER_MODEL_DIR; }

std::string DefaultEngine() {
  std::error_code ec;
  if (WhisperEngine::Available() &&
      std::filesystem::is_regular_file(DefaultWhisperModelDir() / "model.bin", ec)) {
    return "whisper";
  }
  return "pocketsphinx";
}

AsrConfig AsrConfig::FromEnv(ConfigReader& env) {
  AsrConfig c;
  c.engine = env.Choice("ASR_ENGINE", DefaultEngine(), {"pocketsphinx", "whisper", "openai"});
  c.model_dir = env.String("ASR_MODEL_DIR", kDefaultModelDir);
  c.keep_audio = env.Bool("KEEP_MEDIA", c.keep_audio);
  if (c.engine == "pocketsphinx") {
    std::istringstream args(env.String("ASR_POCKETSPHINX_ARGS", ""));
    for (std::string a; args >> a;) c.pocketsphinx_args.push_back(a);
    if (c.pocketsphinx_args.size() % 2 != 0) {
      env.AddProblem("ASR_POCKETSPHINX_ARGS must be \"-name value\" pairs");
    }
    for (std::size_t i = 0; i < c.pocketsphinx_args.size(); i += 2) {
      if (c.pocketsphinx_args[i].size() < 2 || c.pocketsphinx_args[i][0] != '-') {
        env.AddProblem("ASR_POCKETSPHINX_ARGS: \"" + c.pocketsphinx_args[i] +
                       "\" is not an option name (\"-name value\" pairs)");
        break;
      }
    }
  }
  if (c.engine == "whisper") {
    c.whisper_model_dir = env.String("ASR_WHISPER_MODEL_DIR", c.whisper_model_dir.string());
    c.whisper_threads = static_cast<int>(env.Int("ASR_WHISPER_THREADS", c.whisper_threads, 1, 64));
    c.whisper_beam = static_cast<int>(env.Int("ASR_WHISPER_BEAM", c.whisper_beam, 1, 16));
    c.whisper_compute_type = env.Choice("ASR_WHISPER_COMPUTE_TYPE", c.whisper_compute_type,
                                        {"int8", "int8_float32", "float32"});
  }
  if (c.engine == "openai") {
    // Required only with this engine (so not through RequireString, which means "always").
    c.api.base_url = env.String("ASR_API_URL", "");
    if (c.api.base_url.empty()) env.AddProblem("ASR_API_URL is required with ASR_ENGINE=openai");
    c.api.api_key = env.String("ASR_API_KEY", "");
    c.api_model = env.String("ASR_MODEL", c.api_model);
    c.language = env.String("ASR_LANGUAGE", c.language);
    // 780 s of 16 kHz 16-bit mono WAV is just under OpenAI's 25 MB upload limit.
    c.chunk_seconds = static_cast<double>(env.Int("ASR_CHUNK_SECONDS", 600, 5, 780));
    c.api.timeout = env.Duration("ASR_TIMEOUT", c.api.timeout);
    c.api.max_retries = static_cast<int>(env.Int("ASR_MAX_RETRIES", c.api.max_retries, 0, 20));
    c.api.max_retry_wait = env.Duration("ASR_MAX_RETRY_WAIT", c.api.max_retry_wait);
  }
  return c;
}

}  // namespace chansum::asr
