#pragma once
// The pure parts of the embedded Whisper engine, in C++ with no CTranslate2: Whisper's log-mel
// spectrogram (what openai-whisper's log_mel_spectrogram computes) and the decoding of its GPT-2
// byte-level BPE tokens back to UTF-8 text.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace chansum::asr::whisper {

inline constexpr int kSampleRate = 16000;
inline constexpr int kFftSize = 400;    // 25 ms
inline constexpr int kHopLength = 160;  // 10 ms: 100 frames per second
inline constexpr int kMelBins = 80;
inline constexpr int kFftBins = kFftSize / 2 + 1;  // 201
inline constexpr int kWindowFrames = 3000;         // 30 s, the encoder's input
inline constexpr int kWindowSamples = kWindowFrames * kHopLength;
inline constexpr double kSecondsPerTimestamp = 0.02;  // <|0.02|>: 2 frames

// Slaney-style mel filterbank as librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) builds it
// (htk=False, norm="slaney"), which is what Whisper's mel_filters.npz holds: kMelBins rows of
// kFftBins weights, row-major.
[[nodiscard]] const std::vector<float>& MelFilterbank();

struct LogMel {
  int frames = 0;
  std::vector<float> data;  // kMelBins rows of `frames` values, row-major (the encoder's layout)

  [[nodiscard]] float at(int mel, int frame) const {
    return data[static_cast<std::size_t>(mel) * static_cast<std::size_t>(frames) +
                static_cast<std::size_t>(frame)];
  }
};

// Whisper's log-mel spectrogram of 16 kHz mono samples in [-1, 1): STFT with a periodic Hann
// window of 400 samples, hop 160, centred frames with reflect padding (torch.stft center=True),
// the last frame dropped; power spectrum through MelFilterbank(); log10 clamped below at 1e-10;
// then floored at (max - 8) and scaled as (x + 4) / 4. `pad_samples` zeros are appended before
// the STFT (Whisper's transcribe pads 30 s so the last window is whole). Frames:
// (samples + pad_samples) / 160.
[[nodiscard]] LogMel LogMelSpectrogram(std::span<const float> samples, std::size_t pad_samples = 0);
// The same of 16-bit PCM samples (divided by 32768, as Whisper's audio loader does), without a
// float copy of the audio.
[[nodiscard]] LogMel LogMelSpectrogram(std::span<const std::int16_t> samples,
                                       std::size_t pad_samples = 0);

// Reads samples [first, first + out.size()) of the audio, in [-1, 1), into `out`; may throw.
using SampleReader = std::function<void(std::size_t first, std::span<double> out)>;

// The same of `samples` samples read block by block through `read` (about 10 s at a time, each
// sample read once or, at a block's edge, twice): a long file's spectrogram without the file in
// memory. Exceptions of `read` pass through.
[[nodiscard]] LogMel LogMelSpectrogram(std::size_t samples, std::size_t pad_samples,
                                       const SampleReader& read);

// The 3000-frame window that starts at `first_frame`, padded with zeros past the end (Whisper's
// pad_or_trim), in the encoder's [80, 3000] row-major layout.
[[nodiscard]] std::vector<float> MelWindow(const LogMel& mel, int first_frame);

// GPT-2's byte-level BPE spells each byte of the text as one printable code point
// (bytes_to_unicode: "Ġ" U+0120 is the space byte, "Ċ" U+010A the newline); maps a token's UTF-8
// spelling (a line of vocabulary.txt) back to the bytes it stands for. nullopt when the spelling
// is not valid UTF-8 or holds a code point that stands for no byte. Special tokens ("<|en|>")
// spell ASCII and decode as such: callers skip them by id.
[[nodiscard]] std::optional<std::string> TokenBytes(std::string_view token);

// Joins the byte sequences of `tokens` (vocabulary spellings) into text; tokens that do not
// decode are skipped. Invalid UTF-8 that results (a character split by a cut) is kept as is.
[[nodiscard]] std::string DecodeTokens(const std::vector<std::string_view>& tokens);

}  // namespace chansum::asr::whisper
