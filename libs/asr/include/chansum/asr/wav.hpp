#pragma once
// Reading the 16 kHz mono 16-bit PCM WAV files that audio extraction produces. Other formats are a
// permanent error with a message that says what was expected and what was found.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "chansum/common/result.hpp"

namespace chansum::asr {

inline constexpr int kAsrSampleRate = 16000;

struct WavInfo {
  int format = 0;  // 1 = PCM
  int channels = 0;
  int sample_rate = 0;
  int bits_per_sample = 0;
  std::uint64_t data_offset = 0;  // byte offset of the first sample
  std::uint64_t data_bytes = 0;   // size of the data chunk (clamped to the file size)

  [[nodiscard]] std::uint64_t frames() const {
    const int frame_bytes = channels * bits_per_sample / 8;
    return frame_bytes > 0 ? data_bytes / static_cast<std::uint64_t>(frame_bytes) : 0;
  }
  [[nodiscard]] double seconds() const {
    return sample_rate > 0 ? static_cast<double>(frames()) / sample_rate : 0.0;
  }
};

struct WavAudio {
  WavInfo info;
  std::vector<std::int16_t> samples;  // mono, 16 kHz

  [[nodiscard]] double seconds() const {
    return static_cast<double>(samples.size()) / kAsrSampleRate;
  }
};

// Parses the RIFF/WAVE header (skipping chunks such as LIST before "data") and checks that the
// audio is PCM 16-bit mono 16 kHz. Errors: "audio_missing" (no such file, permanent),
// "bad_audio" (not a WAV or the wrong format, permanent), "io_error" (read failure, transient).
[[nodiscard]] Result<WavInfo> ReadWavInfo(const std::filesystem::path& path);

// ReadWavInfo plus all samples in memory (fine for tests and short clips; the engine streams).
[[nodiscard]] Result<WavAudio> ReadWav(const std::filesystem::path& path);

}  // namespace chansum::asr
