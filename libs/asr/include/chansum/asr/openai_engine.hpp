#pragma once
// Transcription through any OpenAI-compatible POST /v1/audio/transcriptions (OpenAI, Groq, a
// whisper.cpp or faster-whisper server). Long audio is cut into chunks at silences (energy-based
// on the 16 kHz WAV, at most max_chunk_seconds each, so every upload stays under the API's file
// limit), each chunk is sent as its own WAV (multipart: file, model, response_format=verbose_json,
// language) and the chunks' segments are stitched back with their timestamps moved by the chunk's
// start. Only one chunk is in memory at a time.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/asr/config.hpp"
#include "chansum/asr/transcript.hpp"
#include "chansum/common/result.hpp"

namespace chansum::asr {

struct ChunkOptions {
  double max_chunk_seconds = 600;  // ASR_CHUNK_SECONDS
  // A cut is placed in the quietest stretch between min_fraction * max and max seconds into the
  // remaining audio.
  double min_fraction = 0.5;
  double frame_seconds = 0.05;  // energy frames
  double quiet_seconds = 0.3;   // width of the stretch whose mean energy picks the cut
};

struct AudioChunk {
  std::uint64_t first_sample = 0;
  std::uint64_t samples = 0;

  [[nodiscard]] double start_seconds() const { return static_cast<double>(first_sample) / 16000.0; }
  [[nodiscard]] double seconds() const { return static_cast<double>(samples) / 16000.0; }
  bool operator==(const AudioChunk&) const = default;
};

// RMS per frame of `frame_samples` samples (the last frame may be shorter).
[[nodiscard]] std::vector<float> FrameEnergies(const std::vector<std::int16_t>& samples,
                                               std::size_t frame_samples);
// Plans chunks over `total_samples` samples from their frame energies (frames of
// options.frame_seconds): consecutive, covering everything, each at most max_chunk_seconds.
[[nodiscard]] std::vector<AudioChunk> PlanChunks(const std::vector<float>& frame_rms,
                                                 std::uint64_t total_samples,
                                                 const ChunkOptions& options);
// The same for a WAV file, reading it once in blocks.
[[nodiscard]] Result<std::vector<AudioChunk>> PlanWavChunks(const std::filesystem::path& wav,
                                                            const ChunkOptions& options);
// A 16 kHz mono 16-bit WAV file image of one chunk of `wav`.
[[nodiscard]] Result<std::string> ChunkWavBytes(const std::filesystem::path& wav,
                                                const AudioChunk& chunk);

// Segments of one verbose_json answer moved to the chunk's place in the whole audio: start/end +
// the chunk's start, clamped into the chunk; texts trimmed; empty ones dropped. An answer with
// text but no segments becomes one segment spanning the chunk.
[[nodiscard]] std::vector<Segment> StitchChunk(const nlohmann::json& answer,
                                               const AudioChunk& chunk);

class OpenAiEngine {
 public:
  explicit OpenAiEngine(const AsrConfig& config);
  ~OpenAiEngine();
  OpenAiEngine(const OpenAiEngine&) = delete;
  OpenAiEngine& operator=(const OpenAiEngine&) = delete;
  // What its transcripts say in `engine`: "openai/<ASR_API_MODEL>".
  [[nodiscard]] static std::string TranscriptEngine(const AsrConfig& config) {
    return "openai/" + config.api_model;
  }

  // Errors: ReadWavInfo's; the API client's (asr_auth, asr_bad_request: permanent;
  // asr_rate_limited, asr_server_error, asr_unreachable: transient); "asr_bad_response".
  [[nodiscard]] Result<Transcript> Transcribe(const std::filesystem::path& wav,
                                              const std::function<bool()>& should_stop = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A language name of verbose_json ("english", "German") as the ISO 639-1 code the transcript
// records ("en", "de"); unknown names are kept (lower case), an empty one is "und".
[[nodiscard]] std::string WhisperLanguageCode(const std::string& name);

}  // namespace chansum::asr
