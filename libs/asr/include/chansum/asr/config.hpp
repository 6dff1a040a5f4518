#pragma once
#include <filesystem>
#include <string>

#include "chansum/common/config.hpp"

namespace chansum::asr {

inline constexpr const char* kDefaultModelDir = "/usr/share/pocketsphinx/model/en-us";

// ASR_ENGINE     engine to use; "pocketsphinx" (embedded, the default; others come later)
// ASR_MODEL_DIR  pocketsphinx model directory holding en-us/ (acoustic model), en-us.lm.bin and
//                cmudict-en-us.dict (default: Debian's pocketsphinx-en-us)
// KEEP_MEDIA     keep the WAV after transcription (default false; read by the transcription stage)
struct AsrConfig {
  std::string engine = "pocketsphinx";
  std::filesystem::path model_dir = kDefaultModelDir;
  bool keep_audio = false;

  [[nodiscard]] std::filesystem::path hmm_dir() const { return model_dir / "en-us"; }
  [[nodiscard]] std::filesystem::path lm_path() const { return model_dir / "en-us.lm.bin"; }
  [[nodiscard]] std::filesystem::path dict_path() const { return model_dir / "cmudict-en-us.dict"; }

  // Reads the variables above, recording problems in `env` (call env.Finish() afterwards).
  [[nodiscard]] static AsrConfig FromEnv(ConfigReader& env);
};

}  // namespace chansum::asr
