#include "chansum/asr/pocketsphinx_engine.hpp"

#include <pocketsphinx.h>
#include <sphinxbase/err.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "chansum/asr/wav.hpp"

namespace chansum::asr {

struct PocketsphinxEngine::Impl {
  cmd_ln_t* config = nullptr;
  ps_decoder_t* decoder = nullptr;
  int frame_rate = 100;
  DecodeOptions options;

  ~Impl() {
    if (decoder != nullptr) ps_free(decoder);
    if (config != nullptr) cmd_ln_free_r(config);
  }
};

namespace {

constexpr int kFrameSamples = kAsrSampleRate / 100;  // 10 ms energy frames for cut search

// Where to end an utterance: the middle of the quietest quarter second in [from, to).
std::size_t QuietestCut(const std::vector<std::int16_t>& samples, std::size_t from,
                        std::size_t to) {
  constexpr std::size_t kWindowFrames = 25;
  const std::size_t frames = (to - from) / kFrameSamples;
  if (frames < kWindowFrames) return to;
  std::vector<std::int64_t> energy(frames);
  for (std::size_t f = 0; f < frames; ++f) {
    std::int64_t e = 0;
    const std::size_t base = from + f * kFrameSamples;
    for (std::size_t i = 0; i < kFrameSamples; ++i) {
      const std::int64_t s = samples[base + i];
      e += s * s;
    }
    energy[f] = e;
  }
  std::int64_t window = 0;
  for (std::size_t f = 0; f < kWindowFrames; ++f) window += energy[f];
  std::int64_t best = window;
  std::size_t best_start = 0;
  for (std::size_t f = kWindowFrames; f < frames; ++f) {
    window += energy[f] - energy[f - kWindowFrames];
    if (window < best) {
      best = window;
      best_start = f - kWindowFrames + 1;
    }
  }
  return from + (best_start + kWindowFrames / 2) * kFrameSamples;
}

std::string MissingModelFiles(const AsrConfig& config) {
  std::string missing;
  std::error_code ec;
  for (const auto& p : {config.hmm_dir() / "mdef", config.hmm_dir() / "means", config.lm_path(),
                        config.dict_path()}) {
    if (!std::filesystem::exists(p, ec)) missing += (missing.empty() ? "" : ", ") + p.string();
  }
  return missing;
}

// sphinxbase (Debian's 5prealpha) keeps ONE process-wide log stream, and ps_init with "-logfn"
// replaces it without any lock: it opens the new file, swaps the global and fcloses the previous
// stream. Two engines created at once (the transcription service makes one per worker thread,
// both at start) could fclose the same FILE twice, or close the stream a decoder in another
// thread was writing a line to: heap corruption that glibc only noticed when a worker thread
// exited at SIGTERM ("tcache_thread_shutdown(): unaligned tcache chunk detected"). So no decoder
// names a log file: sphinxbase's logging is switched off once per process, before the first
// decoder, and the global is never written again.
void SilenceSphinxbaseOnce() {
  static std::once_flag once;
  std::call_once(once, [] { err_set_logfp(nullptr); });
}

}  // namespace

PocketsphinxEngine::PocketsphinxEngine(const AsrConfig& config, DecodeOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (config.engine != Name()) {
    throw std::runtime_error("ASR engine \"" + config.engine +
                             "\" is not pocketsphinx; use the engine that ASR_ENGINE names");
  }
  if (auto missing = MissingModelFiles(config); !missing.empty()) {
    throw std::runtime_error("pocketsphinx model not found under " + config.model_dir.string() +
                             " (missing: " + missing +
                             "); install pocketsphinx-en-us or set ASR_MODEL_DIR");
  }
  impl_->options = options;
  SilenceSphinxbaseOnce();
  const std::string hmm = config.hmm_dir().string();
  const std::string lm = config.lm_path().string();
  const std::string dict = config.dict_path().string();
  // -remove_silence no: with the default voice-activity filter, dropped frames make the
  // ps_seg_frames() numbers drift away from the audio clock; we want exact word times.
  impl_->config = cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", hmm.c_str(), "-lm", lm.c_str(),
                              "-dict", dict.c_str(), "-remove_silence", "no", nullptr);
  if (impl_->config == nullptr) {
    throw std::runtime_error("pocketsphinx rejected its configuration (model dir " +
                             config.model_dir.string() + ")");
  }
  impl_->frame_rate = static_cast<int>(cmd_ln_int32_r(impl_->config, "-frate"));
  if (impl_->frame_rate <= 0) impl_->frame_rate = 100;
  impl_->decoder = ps_init(impl_->config);
  if (impl_->decoder == nullptr) {
    throw std::runtime_error("pocketsphinx failed to load the model from " +
                             config.model_dir.string());
  }
}

Result<std::unique_ptr<PocketsphinxEngine>> PocketsphinxEngine::Create(const AsrConfig& config,
                                                                       DecodeOptions options) {
  try {
    return std::make_unique<PocketsphinxEngine>(config, options);
  } catch (const std::exception& e) {
    return Error::Permanent("asr_model", e.what());
  }
}

PocketsphinxEngine::~PocketsphinxEngine() = default;

Result<Transcript> PocketsphinxEngine::Transcribe(const std::filesystem::path& wav,
                                                  const std::function<bool()>& should_stop) {
  auto info = ReadWavInfo(wav);
  if (!info.ok()) return info.error();
  std::ifstream in(wav, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(info->data_offset));
  if (!in) return Error::Transient("io_error", wav.string() + ": cannot read audio data");

  const auto& opt = impl_->options;
  ps_decoder_t* ps = impl_->decoder;
  const double frate = impl_->frame_rate;
  const auto max_utt =
      static_cast<std::size_t>(std::max(1.0, opt.max_utterance_seconds) * kAsrSampleRate);
  const auto min_utt = std::min(
      max_utt, static_cast<std::size_t>(std::max(0.0, opt.min_utterance_seconds) * kAsrSampleRate));
  const auto chunk = static_cast<std::size_t>(std::max(160, opt.chunk_samples));

  std::uint64_t remaining = info->frames();
  std::uint64_t utt_start = 0;  // sample index of buf[0]
  std::vector<std::int16_t> buf;
  buf.reserve(max_utt);
  std::vector<TimedWord> words;

  while (true) {
    // Top the buffer up to one maximal utterance.
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(max_utt - buf.size(), remaining));
    if (want > 0) {
      const std::size_t old = buf.size();
      buf.resize(old + want);
      in.read(reinterpret_cast<char*>(buf.data() + old),
              static_cast<std::streamsize>(want * sizeof(std::int16_t)));
      const auto got = static_cast<std::size_t>(in.gcount()) / sizeof(std::int16_t);
      buf.resize(old + got);
      remaining = got < want ? 0 : remaining - got;  // a short read means the file ended early
    }
    if (buf.empty()) break;
    const std::size_t cut = remaining > 0 ? QuietestCut(buf, min_utt, buf.size()) : buf.size();

    if (ps_start_utt(ps) < 0) return Error::Transient("asr_failed", "ps_start_utt failed");
    for (std::size_t off = 0; off < cut; off += chunk) {
      if (should_stop && should_stop()) {
        ps_end_utt(ps);
        return Error::Transient("cancelled", "transcription of " + wav.string() + " cancelled");
      }
      const std::size_t n = std::min(chunk, cut - off);
      if (ps_process_raw(ps, buf.data() + off, n, FALSE, FALSE) < 0) {
        ps_end_utt(ps);
        return Error::Transient("asr_failed", "ps_process_raw failed on " + wav.string());
      }
    }
    if (ps_end_utt(ps) < 0) return Error::Transient("asr_failed", "ps_end_utt failed");

    // ps_seg_frames() counts frames since the decoder was created, not since ps_start_utt(),
    // so frame numbers are taken relative to the utterance's first segment (the "<s>" that the
    // n-gram search always starts at frame 0 of the utterance).
    const double offset = static_cast<double>(utt_start) / kAsrSampleRate;
    std::optional<int> base;
    for (ps_seg_t* seg = ps_seg_iter(ps); seg != nullptr; seg = ps_seg_next(seg)) {
      int sf = 0;
      int ef = 0;
      ps_seg_frames(seg, &sf, &ef);
      if (!base) base = sf;
      const char* w = ps_seg_word(seg);
      words.push_back({offset + (sf - *base) / frate, offset + (ef + 1 - *base) / frate,
                       w != nullptr ? w : ""});
    }

    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(cut));
    utt_start += cut;
  }

  Transcript t;
  t.source = "asr";
  t.engine = Name();
  t.language = "en";
  t.audio_seconds = info->seconds();
  t.segments = GroupWords(words, opt.segments);
  for (auto& s : t.segments) {  // frame rounding must not run past the audio
    s.end = std::min(s.end, t.audio_seconds);
    s.start = std::min(s.start, s.end);
  }
  t.text = JoinSegments(t.segments);
  return t;
}

}  // namespace chansum::asr
