#pragma once
// Embedded speech recognition with Whisper tiny.en run by CTranslate2's C++ library (both
// installed from registries by deploy/local/whisper; docs/quality.md has their provenance).
// Built only when CMake finds them (CHANSUM_HAVE_WHISPER); otherwise Create() says so.
//
// Threading: one WhisperEngine per worker thread, like PocketsphinxEngine; each holds its own
// model copy (84 MiB RSS per loaded engine with int8 weights, docs/quality.md) and runs on
// ASR_WHISPER_THREADS threads.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chansum/asr/config.hpp"
#include "chansum/asr/transcript.hpp"
#include "chansum/common/result.hpp"

namespace chansum::asr {

// One decoded 30 s window, as Whisper's tokens say: text between timestamp pairs.
struct WhisperWindowSegment {
  double start = 0;  // seconds from the window's start
  double end = 0;
  std::vector<int> text_tokens;
};

struct WhisperWindowResult {
  std::vector<WhisperWindowSegment> segments;
  // Frames (10 ms) to advance the window by: up to the last complete segment, or the whole
  // window when the text ends with a lone timestamp or carries none.
  int advance_frames = 0;
};

// Splits the generated ids of one window (prompt excluded, end of text excluded) into segments,
// the way openai-whisper's transcribe() does: ids >= timestamp_begin are <|t|> with
// t = (id - timestamp_begin) * 0.02 s; consecutive timestamps close one segment and open the
// next. `window_frames` is the window's length of real audio (at most 3000).
[[nodiscard]] WhisperWindowResult SplitWindow(const std::vector<int>& ids, int timestamp_begin,
                                              int window_frames);

class WhisperEngine {
 public:
  // Loads the model; throws std::runtime_error naming the problem (missing files, a build without
  // the engine, CTranslate2's own error).
  explicit WhisperEngine(const AsrConfig& config);
  [[nodiscard]] static Result<std::unique_ptr<WhisperEngine>> Create(const AsrConfig& config);
  ~WhisperEngine();
  WhisperEngine(const WhisperEngine&) = delete;
  WhisperEngine& operator=(const WhisperEngine&) = delete;

  // Transcribes a 16 kHz mono 16-bit WAV in successive 30 s windows, each starting where the
  // previous window's last complete segment ended. should_stop is polled between windows (a
  // transient "cancelled"). Errors from ReadWavInfo pass through; a CTranslate2 failure is a
  // transient "asr_failed".
  [[nodiscard]] Result<Transcript> Transcribe(const std::filesystem::path& wav,
                                              const std::function<bool()>& should_stop = {});

  [[nodiscard]] static constexpr const char* Name() { return "whisper"; }  // ASR_ENGINE's
  // What its transcripts say in `engine`.
  [[nodiscard]] static constexpr const char* TranscriptEngine() { return "whisper/tiny.en"; }
  // Whether this build holds the engine (CTranslate2 was found at configure time).
  [[nodiscard]] static bool Available();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chansum::asr
