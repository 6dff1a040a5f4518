#include "transcription.hpp"

#include <filesystem>
#include <memory>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "chansum/asr/engine.hpp"
#include "chansum/asr/transcript.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/media/paths.hpp"
#include "chansum/protocol/documents.hpp"

namespace chansum::transcription {
namespace {

using Transcribe = asr::TranscribeFn;

void RemoveQuietly(const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::remove(file, ec);
  if (ec) spdlog::warn("could not remove {}: {}", file.string(), ec.message());
}

stage::StageOutput Output(const asr::Transcript& transcript, bool reused) {
  stage::StageOutput out;
  out.event_data = {{"engine", transcript.engine},
                    {"segments", transcript.segments.size()},
                    {"audio_seconds", transcript.audio_seconds},
                    {"reused", reused}};
  return out;
}

}  // namespace

std::optional<Error> CheckAsrLanguage(const asr::AsrConfig& config,
                                      const nlohmann::json& job_options) {
  if (!job_options.is_object()) return std::nullopt;
  const auto it = job_options.find("caption_languages");
  if (it == job_options.end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) {
    return std::nullopt;
  }
  const std::string wanted = (*it)[0].get<std::string>();
  std::string primary = wanted.substr(0, wanted.find('-'));
  for (char& c : primary) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // pocketsphinx runs Debian's en-us model only, whisper the English-only tiny.en; the
  // OpenAI-compatible engine is told
  // ASR_LANGUAGE (empty: it detects the language itself).
  const std::string engine_language = config.engine == "openai" ? config.language : "en";
  if (engine_language.empty() || engine_language == primary) return std::nullopt;
  return Error::Permanent(
      "asr_language_unsupported",
      "the job's captions language is " + wanted + " (first of caption_languages), but the " +
          (config.engine == "openai"
               ? "ASR endpoint is set to ASR_LANGUAGE=" + engine_language
               : "embedded ASR (" + config.engine + ") knows only English (en-us)") +
          ": no captions in the job's languages and no transcript that would not be garbage; "
          "use ASR_ENGINE=openai with ASR_LANGUAGE empty or matching, or list a language the "
          "video has captions in");
}

namespace {

stage::Handler MakeHandler(const asr::AsrConfig& config, Transcribe transcribe) {
  return [config, engine_name = asr::TranscriptEngine(config), transcribe = std::move(transcribe)](
             const protocol::Command& cmd, stage::StageContext& ctx) -> Result<stage::StageOutput> {
    // The command names the file to read (and delete): only ever one inside MEDIA_DIR.
    auto confined =
        media::ConfineToMediaDir(cmd.data.at("audio_path").get<std::string>(), ctx.media_dir);
    if (!confined.ok()) return confined.error();
    const std::filesystem::path wav = *confined;
    // A redelivered command (or a later job on the same channel) finds the transcript this
    // engine stored and does not transcribe again; the WAV may already be gone. A transcript of
    // another engine (pocketsphinx's, before Whisper was installed; captions, when this job asked
    // for ASR) or an unreadable one is replaced by a fresh one.
    auto existing = ctx.docs->Get(protocol::kTranscriptsCollection, cmd.video_id);
    if (!existing.ok()) return existing.error();
    const bool replacing = existing->has_value();
    if (replacing) {
      auto stored = asr::TranscriptFromJson(**existing);
      if (stored.ok() && stored->engine == engine_name) {
        if (!config.keep_audio) RemoveQuietly(wav);
        return Output(*stored, /*reused=*/true);
      }
    }
    // The language the ASR assumes is the job's first caption language (issue 15 §2): an engine
    // that cannot do it says so instead of producing English-shaped garbage.
    if (auto unsupported = CheckAsrLanguage(config, ctx.claim.job_options)) return *unsupported;
    auto transcript = transcribe(wav, ctx.should_stop);
    if (!transcript.ok()) return transcript.error();
    auto stored =
        ctx.docs->Upsert(protocol::kTranscriptsCollection, cmd.video_id, asr::ToJson(*transcript));
    if (!stored.ok()) return stored.error();
    // The summary of the transcript just replaced is of other words: gone, so that no summarizer
    // reuses it (an LLM summary is reused when its model wrote it); summarization makes it anew.
    if (replacing) {
      auto deleted = ctx.docs->Delete(protocol::kSummariesCollection, cmd.video_id);
      if (!deleted.ok()) return deleted.error();
    }
    if (!config.keep_audio) RemoveQuietly(wav);
    return Output(*transcript, /*reused=*/false);
  };
}

}  // namespace

stage::StageDefinition Definition() {
  stage::StageDefinition def;
  def.stage = protocol::Stage::kTranscription;
  def.default_concurrency = 2;
  def.needs_docstore = true;
  def.configure = [](ConfigReader& env, stage::StageDefinition&) -> stage::HandlerFactory {
    const auto config = asr::AsrConfig::FromEnv(env);
    if (config.engine == "openai") {
      spdlog::info("transcription backend openai: {} model {}, chunks of at most {} s",
                   config.api.base_url, config.api_model, config.chunk_seconds);
    } else {
      // Load the model once now, so a missing or broken model (or a build without the engine) is
      // a configuration problem reported at start (exit 2) rather than a crash in a worker.
      if (auto probe = asr::MakeEngine(config); !probe.ok()) {
        env.AddProblem((config.engine == "whisper" ? "ASR_ENGINE=whisper, ASR_WHISPER_MODEL_DIR=" +
                                                         config.whisper_model_dir.string()
                                                   : "ASR_MODEL_DIR=" + config.model_dir.string()) +
                       ": " + probe.error().message);
      }
      if (config.engine == "whisper") {
        spdlog::info("transcription backend whisper: {} ({} weights, beam {}, {} thread(s) each)",
                     config.whisper_model_dir.string(), config.whisper_compute_type,
                     config.whisper_beam, config.whisper_threads);
      }
    }
    return [config] {
      // One engine per worker thread: a decoder is not thread-safe.
      auto engine = asr::MakeEngine(config);
      if (!engine.ok()) throw std::runtime_error("ASR engine: " + engine.error().ToString());
      return MakeHandler(config, std::move(*engine));
    };
  };
  return def;
}

}  // namespace chansum::transcription
