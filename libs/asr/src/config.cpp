#include "chansum/asr/config.hpp"

namespace chansum::asr {

AsrConfig AsrConfig::FromEnv(ConfigReader& env) {
  AsrConfig c;
  c.engine = env.Choice("ASR_ENGINE", c.engine, {"pocketsphinx"});
  c.model_dir = env.String("ASR_MODEL_DIR", kDefaultModelDir);
  c.keep_audio = env.Bool("KEEP_MEDIA", c.keep_audio);
  return c;
}

}  // namespace chansum::asr
