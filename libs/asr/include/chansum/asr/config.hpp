#pragma once
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "chansum/common/config.hpp"
#include "chansum/openai/client.hpp"

namespace chansum::asr {

inline constexpr const char* kDefaultModelDir = "/usr/share/pocketsphinx/model/en-us";
// Where deploy/local/whisper installed Whisper tiny.en at configure time (CMake's
// CHANSUM_WHISPER_DIR/model; /opt/chansum/whisper/model in the container image).
[[nodiscard]] std::filesystem::path DefaultWhisperModelDir();
// ASR_ENGINE's default: "whisper" when this build has the engine and DefaultWhisperModelDir()
// holds model.bin (docs/quality.md: a third of pocketsphinx's word errors at a third of its CPU),
// else "pocketsphinx", the fallback.
[[nodiscard]] std::string DefaultEngine();

// ASR_ENGINE     engine to use: "whisper" (embedded Whisper tiny.en through CTranslate2, see
//                whisper_engine.hpp; the default when installed), "pocketsphinx" (embedded,
//                the fallback default) or "openai" (any
//                OpenAI-compatible POST /v1/audio/transcriptions, see openai_engine.hpp)
// ASR_MODEL_DIR  pocketsphinx model directory holding en-us/ (acoustic model), en-us.lm.bin and
//                cmudict-en-us.dict (default: Debian's pocketsphinx-en-us)
// ASR_POCKETSPHINX_ARGS  extra pocketsphinx decoder options, "-name value" pairs separated by
//                spaces (e.g. "-beam 1e-60 -lw 8"); they override the engine's own settings
// With ASR_ENGINE=whisper: ASR_WHISPER_MODEL_DIR (default DefaultWhisperModelDir()),
// ASR_WHISPER_THREADS, ASR_WHISPER_BEAM, ASR_WHISPER_COMPUTE_TYPE.
// KEEP_MEDIA     keep the WAV after transcription (default false; read by the transcription stage)
// With ASR_ENGINE=openai: ASR_API_URL (required), ASR_API_KEY, ASR_MODEL, ASR_LANGUAGE,
// ASR_CHUNK_SECONDS, ASR_TIMEOUT, ASR_MAX_RETRIES, ASR_MAX_RETRY_WAIT (docs/configuration.md).
struct AsrConfig {
  std::string engine = "pocketsphinx";  // FromEnv's default is DefaultEngine()
  std::filesystem::path model_dir = kDefaultModelDir;
  bool keep_audio = false;
  // Extra pocketsphinx options as "-name value" pairs (ASR_POCKETSPHINX_ARGS); checked against
  // pocketsphinx's own option table when the engine is created.
  std::vector<std::string> pocketsphinx_args;
  // The embedded Whisper engine.
  std::filesystem::path whisper_model_dir = DefaultWhisperModelDir();
  int whisper_threads = 1;                    // CPU threads of one engine (one per worker)
  int whisper_beam = 1;                       // 1 = greedy
  std::string whisper_compute_type = "int8";  // CTranslate2's weights type on the CPU
  // The OpenAI-compatible backend.
  // The API's client: ASR_API_URL (base URL incl. /v1), ASR_API_KEY (never logged), ASR_TIMEOUT,
  // ASR_MAX_RETRIES, ASR_MAX_RETRY_WAIT.
  openai::ClientOptions api = [] {
    openai::ClientOptions o;
    o.timeout = std::chrono::minutes(5);
    o.error_prefix = "asr";
    return o;
  }();
  std::string api_model = "whisper-1";
  std::string language = "en";  // ISO-639-1 sent as `language`; empty = let the API detect
  double chunk_seconds = 600;   // longest upload; 600 s of 16 kHz 16-bit mono is 19.2 MB

  [[nodiscard]] std::filesystem::path hmm_dir() const { return model_dir / "en-us"; }
  [[nodiscard]] std::filesystem::path lm_path() const { return model_dir / "en-us.lm.bin"; }
  [[nodiscard]] std::filesystem::path dict_path() const { return model_dir / "cmudict-en-us.dict"; }

  // Reads the variables above, recording problems in `env` (call env.Finish() afterwards).
  [[nodiscard]] static AsrConfig FromEnv(ConfigReader& env);
};

}  // namespace chansum::asr
