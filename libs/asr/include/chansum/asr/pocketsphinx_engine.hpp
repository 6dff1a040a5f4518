#pragma once
// Embedded speech recognition with libpocketsphinx (Debian's 5prealpha) and its en-us model.
//
// Threading: a pocketsphinx decoder is NOT thread-safe. One PocketsphinxEngine belongs to one
// thread at a time; run N transcriptions in parallel with N engines (each loads its own model,
// see README.md for the memory this costs).
#include <filesystem>
#include <functional>
#include <memory>

#include "chansum/asr/config.hpp"
#include "chansum/asr/transcript.hpp"
#include "chansum/asr/words.hpp"
#include "chansum/common/result.hpp"

namespace chansum::asr {

struct DecodeOptions {
  // Audio is decoded in utterances of at most max_utterance_seconds, cut at the quietest
  // quarter-second after min_utterance_seconds, so decoder memory stays bounded on long audio.
  double min_utterance_seconds = 20;
  double max_utterance_seconds = 30;
  // Cepstral mean normalisation: true normalises each utterance by its own mean ("-cmn batch",
  // as the en-us model was trained), handing the utterance to the decoder in one call, so
  // should_stop is checked between utterances; false uses sphinxbase's live CMN (a running
  // mean from the model's -cmninit, carried from utterance to utterance within a file), fed in
  // chunks of chunk_samples with should_stop checked between chunks. docs/quality.md has the
  // word error rate of each.
  bool cmn_per_utterance = true;
  // Samples handed to ps_process_raw at a time with live CMN.
  int chunk_samples = 4000;  // 0.25 s
  SegmentOptions segments;
};

class PocketsphinxEngine {
 public:
  // Loads the model; throws std::runtime_error naming the missing files or the pocketsphinx
  // failure (a configuration problem at start, not an expected runtime failure).
  explicit PocketsphinxEngine(const AsrConfig& config, DecodeOptions options = {});
  // The same, as a value: a permanent "asr_model" error instead of an exception.
  [[nodiscard]] static Result<std::unique_ptr<PocketsphinxEngine>> Create(
      const AsrConfig& config, DecodeOptions options = {});
  ~PocketsphinxEngine();
  PocketsphinxEngine(const PocketsphinxEngine&) = delete;
  PocketsphinxEngine& operator=(const PocketsphinxEngine&) = delete;

  // Transcribes a 16 kHz mono 16-bit WAV. should_stop is polled between chunks; when it returns
  // true the decode stops with a transient "cancelled" error. Errors from ReadWavInfo pass
  // through; a decoder failure is a transient "asr_failed".
  [[nodiscard]] Result<Transcript> Transcribe(const std::filesystem::path& wav,
                                              const std::function<bool()>& should_stop = {});

  [[nodiscard]] static constexpr const char* Name() { return "pocketsphinx"; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chansum::asr
