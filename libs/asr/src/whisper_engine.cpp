#include "chansum/asr/whisper_engine.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "chansum/asr/wav.hpp"
#include "chansum/asr/whisper_features.hpp"

#ifdef CHANSUM_HAVE_WHISPER
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

#include <ctranslate2/logging.h>
#include <ctranslate2/models/whisper.h>
#endif

namespace chansum::asr {

WhisperWindowResult SplitWindow(const std::vector<int>& ids, int timestamp_begin,
                                int window_frames) {
  WhisperWindowResult out;
  const auto is_ts = [&](std::size_t i) { return ids[i] >= timestamp_begin; };
  const auto ts_seconds = [&](std::size_t i) {
    return (ids[i] - timestamp_begin) * whisper::kSecondsPerTimestamp;
  };
  const auto text_of = [&](std::size_t from, std::size_t to) {
    std::vector<int> text;
    for (std::size_t i = from; i < to; ++i) {
      if (ids[i] < timestamp_begin) text.push_back(ids[i]);
    }
    return text;
  };
  const std::size_t n = ids.size();
  const bool single_timestamp_ending = n >= 2 && !is_ts(n - 2) && is_ts(n - 1);
  std::vector<std::size_t> slices;
  for (std::size_t i = 1; i < n; ++i) {
    if (is_ts(i) && is_ts(i - 1)) slices.push_back(i);
  }
  if (!slices.empty()) {
    if (single_timestamp_ending) slices.push_back(n);
    std::size_t last = 0;
    for (const std::size_t cut : slices) {
      if (cut > last) {
        WhisperWindowSegment seg;
        seg.start = is_ts(last) ? ts_seconds(last) : 0.0;
        seg.end = is_ts(cut - 1) ? ts_seconds(cut - 1) : seg.start;
        seg.text_tokens = text_of(last, cut);
        out.segments.push_back(std::move(seg));
      }
      last = cut;
    }
    if (single_timestamp_ending) {
      out.advance_frames = window_frames;
    } else {
      // <|t|> is t / 0.02 timestamp steps of 2 frames each.
      out.advance_frames = (ids[last - 1] - timestamp_begin) * 2;
    }
  } else {
    WhisperWindowSegment seg;
    seg.end = window_frames / 100.0;
    for (std::size_t i = n; i-- > 0;) {
      if (is_ts(i)) {
        if (ids[i] != timestamp_begin) seg.end = ts_seconds(i);
        break;
      }
    }
    seg.text_tokens = text_of(0, n);
    out.segments.push_back(std::move(seg));
    out.advance_frames = window_frames;
  }
  if (out.advance_frames <= 0 || out.advance_frames > window_frames) {
    out.advance_frames = window_frames;
  }
  return out;
}

#ifdef CHANSUM_HAVE_WHISPER

namespace {

// Whisper's rules for skipping a window as silence (openai-whisper's and faster-whisper's
// defaults): the model's no-speech probability above 0.6 and the text's average log
// probability below -1.
constexpr float kNoSpeechThreshold = 0.6F;
constexpr float kLogProbThreshold = -1.0F;
// A window whose samples all stay within +-32 (about -60 dBFS) is not decoded: Whisper hears
// words ("you") in digital silence.
constexpr int kSilentAmplitude = 32;

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\n\r");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\n\r");
  return s.substr(first, last - first + 1);
}

// spdlog's default logger and every logger's level, restored on destruction.
class SpdlogState {
 public:
  SpdlogState() : default_logger_(spdlog::default_logger()) {
    spdlog::apply_all([this](const std::shared_ptr<spdlog::logger>& logger) {
      levels_[logger->name()] = logger->level();
    });
  }
  ~SpdlogState() {
    spdlog::apply_all([this](const std::shared_ptr<spdlog::logger>& logger) {
      const auto it = levels_.find(logger->name());
      logger->set_level(it != levels_.end() ? it->second : spdlog::level::warn);
    });
    if (default_logger_) spdlog::set_default_logger(default_logger_);
  }
  SpdlogState(const SpdlogState&) = delete;
  SpdlogState& operator=(const SpdlogState&) = delete;

 private:
  std::shared_ptr<spdlog::logger> default_logger_;
  std::map<std::string, spdlog::level::level_enum> levels_;
};

}  // namespace

struct WhisperEngine::Impl {
  AsrConfig config;
  std::unique_ptr<ctranslate2::models::Whisper> model;
  std::vector<std::string> vocabulary;
  int eot = 0;
  int sot = 0;
  int timestamp_begin = 0;

  int IdOf(std::string_view token) const {
    const auto it = std::find(vocabulary.begin(), vocabulary.end(), token);
    if (it == vocabulary.end()) {
      throw std::runtime_error(config.whisper_model_dir.string() + "/vocabulary.txt has no token " +
                               std::string(token));
    }
    return static_cast<int>(it - vocabulary.begin());
  }
};

WhisperEngine::WhisperEngine(const AsrConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  const auto& dir = config.whisper_model_dir;
  for (const char* file : {"model.bin", "config.json", "vocabulary.txt"}) {
    if (!std::filesystem::is_regular_file(dir / file)) {
      throw std::runtime_error("Whisper model: no " + (dir / file).string() +
                               " (ASR_WHISPER_MODEL_DIR; deploy/local/whisper installs it)");
    }
  }
  std::ifstream vocab(dir / "vocabulary.txt");
  for (std::string line; std::getline(vocab, line);) impl_->vocabulary.push_back(line);
  impl_->eot = impl_->IdOf("<|endoftext|>");
  impl_->sot = impl_->IdOf("<|startoftranscript|>");
  impl_->timestamp_begin = impl_->IdOf("<|0.00|>");

  ctranslate2::models::ModelLoader loader(dir.string());
  loader.device = ctranslate2::Device::CPU;
  loader.compute_type = ctranslate2::str_to_compute_type(config.whisper_compute_type);
  ctranslate2::ReplicaPoolConfig pool;
  pool.num_threads_per_replica = static_cast<std::size_t>(config.whisper_threads);
  {
    // CTranslate2 shares the process's spdlog registry (its bundled spdlog 1.10 exports the same
    // symbols as Debian's libspdlog 1.10): the first time it logs it makes its own stderr logger
    // the default and sets every logger's level to its CT2_VERBOSE level (warning). The service's
    // logging (default logger, levels) is put back once the model is loaded; CTranslate2's own
    // warnings then go through the service's logger. One load at a time: two workers loading at
    // once (concurrency 2) could each save what the other's load had set, and the warning level
    // stayed (the chaos suite found no "handler run" lines in the transcription log).
    static std::mutex load_mutex;
    const std::lock_guard<std::mutex> lock(load_mutex);
    const SpdlogState saved;
    ctranslate2::set_log_level(ctranslate2::LogLevel::Warning);  // quiet while it loads
    try {
      impl_->model = std::make_unique<ctranslate2::models::Whisper>(loader, pool);
    } catch (const std::exception& e) {
      throw std::runtime_error("Whisper model " + dir.string() + ": " + e.what());
    }
  }
  if (impl_->model->is_multilingual() || impl_->model->n_mels() != whisper::kMelBins) {
    throw std::runtime_error("Whisper model " + dir.string() +
                             ": expected an English-only model with 80 mel bins (tiny.en)");
  }
}

bool WhisperEngine::Available() { return true; }

Result<Transcript> WhisperEngine::Transcribe(const std::filesystem::path& wav,
                                             const std::function<bool()>& should_stop) {
  auto info = ReadWavInfo(wav);
  if (!info.ok()) return info.error();
  const std::size_t samples = info->frames();
  // The samples are read from the file block by block and not kept: what stays in memory is the
  // spectrogram (32 KB per second of audio) and one flag per 10 ms hop, set when any of its
  // samples is louder than kSilentAmplitude.
  std::vector<std::uint8_t> loud_hops((samples + whisper::kHopLength - 1) / whisper::kHopLength);
  std::ifstream in(wav, std::ios::binary);
  std::vector<std::int16_t> pcm;
  const whisper::SampleReader read = [&](std::size_t first, std::span<double> out) {
    pcm.resize(out.size());
    in.seekg(static_cast<std::streamoff>(info->data_offset + first * sizeof(std::int16_t)));
    if (!in.read(reinterpret_cast<char*>(pcm.data()),
                 static_cast<std::streamsize>(pcm.size() * sizeof(std::int16_t)))) {
      throw std::runtime_error("short read of audio data");
    }
    for (std::size_t i = 0; i < pcm.size(); ++i) {
      out[i] = pcm[i] / 32768.0;  // as Whisper's audio loader scales 16-bit PCM
      if (std::abs(static_cast<int>(pcm[i])) > kSilentAmplitude) {
        loud_hops[(first + i) / whisper::kHopLength] = 1;
      }
    }
  };
  whisper::LogMel mel;
  try {
    mel = whisper::LogMelSpectrogram(samples, whisper::kWindowSamples, read);
  } catch (const std::exception& e) {
    return Error::Transient("io_error", wav.string() + ": " + e.what());
  }
  static_assert(std::endian::native == std::endian::little);  // WAV samples are little-endian
  const int content_frames = mel.frames - whisper::kWindowFrames;

  Transcript transcript;
  transcript.engine = TranscriptEngine();
  transcript.audio_seconds = info->seconds();

  ctranslate2::models::WhisperOptions options;
  options.beam_size = static_cast<std::size_t>(impl_->config.whisper_beam);
  options.return_scores = true;
  options.return_no_speech_prob = true;
  const std::vector<std::vector<std::size_t>> prompt = {{static_cast<std::size_t>(impl_->sot)}};

  for (int seek = 0; seek < content_frames;) {
    if (should_stop && should_stop()) {
      return Error::Transient("cancelled", "transcription of " + wav.string() + " cancelled");
    }
    const int window_frames = std::min(whisper::kWindowFrames, content_frames - seek);
    const auto first_hop = std::min(loud_hops.size(), static_cast<std::size_t>(seek));
    const auto end_hop = std::min(loud_hops.size(), first_hop + window_frames);
    const bool silent = std::none_of(loud_hops.begin() + static_cast<std::ptrdiff_t>(first_hop),
                                     loud_hops.begin() + static_cast<std::ptrdiff_t>(end_hop),
                                     [](std::uint8_t loud) { return loud != 0; });
    if (silent) {
      seek += window_frames;
      continue;
    }
    ctranslate2::models::WhisperGenerationResult result;
    try {
      ctranslate2::StorageView features({1, whisper::kMelBins, whisper::kWindowFrames},
                                        whisper::MelWindow(mel, seek));
      auto futures = impl_->model->generate(features, prompt, options);
      result = futures.at(0).get();
    } catch (const std::exception& e) {
      return Error::Transient("asr_failed", "Whisper on " + wav.string() + ": " + e.what());
    }
    if (result.sequences_ids.empty()) {
      return Error::Transient("asr_failed", "Whisper on " + wav.string() + ": no hypothesis");
    }
    std::vector<int> ids;
    for (const std::size_t id : result.sequences_ids[0]) {
      if (static_cast<int>(id) != impl_->eot) ids.push_back(static_cast<int>(id));
    }
    // faster-whisper's average log probability: the length-normalised score times the length,
    // over the tokens plus the end of text.
    const double seq_len = static_cast<double>(ids.size());
    const double avg_logprob =
        result.scores.empty() ? 0.0 : result.scores[0] * seq_len / (seq_len + 1.0);
    if (result.no_speech_prob > kNoSpeechThreshold && avg_logprob < kLogProbThreshold) {
      seek += window_frames;
      continue;
    }
    const auto split = SplitWindow(ids, impl_->timestamp_begin, window_frames);
    const double offset = seek / 100.0;
    const double window_end = offset + window_frames / 100.0;
    for (const auto& seg : split.segments) {
      std::vector<std::string_view> spellings;
      for (const int id : seg.text_tokens) {
        if (id >= 0 && id < impl_->eot)
          spellings.emplace_back(impl_->vocabulary[static_cast<std::size_t>(id)]);
      }
      std::string text = Trim(whisper::DecodeTokens(spellings));
      if (text.empty()) continue;
      Segment out;
      out.start = std::min(offset + seg.start, window_end);
      out.end = std::clamp(offset + seg.end, out.start, window_end);
      out.text = std::move(text);
      transcript.segments.push_back(std::move(out));
    }
    seek += split.advance_frames;
  }
  transcript.text = JoinSegments(transcript.segments);
  return transcript;
}

#else  // built without CTranslate2

struct WhisperEngine::Impl {};

WhisperEngine::WhisperEngine(const AsrConfig&) {
  throw std::runtime_error(
      "this build has no Whisper engine: CTranslate2 was not found at configure time "
      "(run deploy/local/whisper, then configure again)");
}

bool WhisperEngine::Available() { return false; }

Result<Transcript> WhisperEngine::Transcribe(const std::filesystem::path&,
                                             const std::function<bool()>&) {
  return Error::Permanent("asr_model", "this build has no Whisper engine");
}

#endif

WhisperEngine::~WhisperEngine() = default;

Result<std::unique_ptr<WhisperEngine>> WhisperEngine::Create(const AsrConfig& config) {
  try {
    return std::make_unique<WhisperEngine>(config);
  } catch (const std::exception& e) {
    return Error::Permanent("asr_model", e.what());
  }
}

}  // namespace chansum::asr
