#include "chansum/asr/pocketsphinx_engine.hpp"

#include <pocketsphinx.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>

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

// Cepstral mean normalisation (CMN) is decoder state that ps_start_utt does not reset. Live CMN
// keeps a running mean (and the sum and frame count it is updated from) that carries from one
// utterance to the next, as it must within one file; but a file decoded after another started
// from where the other ended and was heard differently (the same video gave a different
// transcript, and a different WER, depending on what the worker had decoded before). And the
// model's feat.params asks for "-cmn batch" (each utterance normalised by its own mean), which
// sphinxbase silently turns into live CMN for good when the first utterance is fed block by block,
// so the first file a decoder heard was normalised differently from all later ones. The engine
// therefore sets the CMN type it uses up front (batch with whole utterances, live with chunks:
// DecodeOptions::cmn_per_utterance), saves the state ps_init left, and puts it back before
// every file.
struct CmnState {
  cmn_type_t type = CMN_LIVE;
  std::vector<mfcc_t> mean;
  std::vector<mfcc_t> var;
  std::vector<mfcc_t> sum;
  int32 nframe = 0;

  static std::optional<CmnState> Save(ps_decoder_t* ps, bool per_utterance) {
    feat_t* feat = ps_get_feat(ps);
    if (feat == nullptr || feat->cmn_struct == nullptr) return std::nullopt;
    if (feat->cmn != CMN_NONE) feat->cmn = per_utterance ? CMN_BATCH : CMN_LIVE;
    const cmn_t* cmn = feat->cmn_struct;
    CmnState s;
    s.type = feat->cmn;
    const auto copy = [&](const mfcc_t* from, std::vector<mfcc_t>& to) {
      if (from != nullptr) to.assign(from, from + cmn->veclen);
    };
    copy(cmn->cmn_mean, s.mean);
    copy(cmn->cmn_var, s.var);
    copy(cmn->sum, s.sum);
    s.nframe = cmn->nframe;
    return s;
  }

  void Restore(ps_decoder_t* ps) const {
    feat_t* feat = ps_get_feat(ps);
    if (feat == nullptr || feat->cmn_struct == nullptr) return;
    feat->cmn = type;
    cmn_t* cmn = feat->cmn_struct;
    const auto copy = [](const std::vector<mfcc_t>& from, mfcc_t* to) {
      if (to != nullptr) std::copy(from.begin(), from.end(), to);
    };
    copy(mean, cmn->cmn_mean);
    copy(var, cmn->cmn_var);
    copy(sum, cmn->sum);
    cmn->nframe = nframe;
  }
};

struct PocketsphinxEngine::Impl {
  cmd_ln_t* config = nullptr;
  ps_decoder_t* decoder = nullptr;
  int frame_rate = 100;
  DecodeOptions options;
  std::optional<CmnState> initial_cmn;  // as ps_init left it; restored before each file

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

// True when the first n samples stay below about -60 dBFS (|sample| <= 32 everywhere).
bool IsSilent(const std::vector<std::int16_t>& samples, std::size_t n) {
  constexpr int kSilentAmplitude = 32;
  return std::all_of(
      samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(n),
      [](std::int16_t s) { return s >= -kSilentAmplitude && s <= kSilentAmplitude; });
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
  // ASR_POCKETSPHINX_ARGS come last, so they override these.
  std::vector<std::string> args = {"-hmm", hmm, "-lm", lm, "-dict", dict, "-remove_silence", "no"};
  args.insert(args.end(), config.pocketsphinx_args.begin(), config.pocketsphinx_args.end());
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& a : args) argv.push_back(a.data());
  impl_->config =
      cmd_ln_parse_r(nullptr, ps_args(), static_cast<int32>(argv.size()), argv.data(), TRUE);
  if (impl_->config == nullptr) {
    std::string given;
    for (const auto& a : config.pocketsphinx_args) given += (given.empty() ? "" : " ") + a;
    throw std::runtime_error(
        "pocketsphinx rejected its configuration (model dir " + config.model_dir.string() +
        (given.empty() ? "" : ", ASR_POCKETSPHINX_ARGS \"" + given + "\"") + ")");
  }
  impl_->frame_rate = static_cast<int>(cmd_ln_int32_r(impl_->config, "-frate"));
  if (impl_->frame_rate <= 0) impl_->frame_rate = 100;
  impl_->decoder = ps_init(impl_->config);
  if (impl_->decoder == nullptr) {
    throw std::runtime_error("pocketsphinx failed to load the model from " +
                             config.model_dir.string());
  }
  impl_->initial_cmn =
      CmnState::Save(impl_->decoder, options.cmn_per_utterance);  // none with -cmn none
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
  // Every file starts from the freshly loaded decoder's normalisation, whatever came before.
  // A new stream resets what sphinxbase keeps "for the stream": the noise estimate of the
  // spectral subtraction (-remove_noise) and the frame counter of segment times.
  if (ps_start_stream(ps) < 0) return Error::Transient("asr_failed", "ps_start_stream failed");
  if (impl_->initial_cmn) impl_->initial_cmn->Restore(ps);

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

    // An utterance of (near) digital silence holds no speech, and per-utterance CMN would take
    // its mean out and leave the decoder a flat signal it hears words in ("dog" in a second of
    // zeros): it is not decoded.
    if (IsSilent(buf, cut)) {
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(cut));
      utt_start += cut;
      continue;
    }
    if (ps_start_utt(ps) < 0) return Error::Transient("asr_failed", "ps_start_utt failed");
    if (opt.cmn_per_utterance) {  // the whole utterance at once: batch CMN needs all of it
      if (should_stop && should_stop()) {
        ps_end_utt(ps);
        return Error::Transient("cancelled", "transcription of " + wav.string() + " cancelled");
      }
      if (ps_process_raw(ps, buf.data(), cut, FALSE, TRUE) < 0) {
        ps_end_utt(ps);
        return Error::Transient("asr_failed", "ps_process_raw failed on " + wav.string());
      }
    }
    for (std::size_t off = 0; !opt.cmn_per_utterance && off < cut; off += chunk) {
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

    // ps_seg_frames() counts frames since ps_start_stream(), not since ps_start_utt(), and not
    // exactly the frames fed (the frames an utterance's end flushes are not all counted), so
    // frame numbers are taken relative to the utterance's first segment (the "<s>" that the
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
