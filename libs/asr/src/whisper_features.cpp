#include "chansum/asr/whisper_features.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>

namespace chansum::asr::whisper {
namespace {

// librosa's slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
constexpr double kMinLogHz = 1000.0;
constexpr double kHzPerMel = 200.0 / 3.0;
constexpr double kMinLogMel = kMinLogHz / kHzPerMel;  // 15

double LogStep() { return std::log(6.4) / 27.0; }

double HzToMel(double hz) {
  if (hz >= kMinLogHz) return kMinLogMel + std::log(hz / kMinLogHz) / LogStep();
  return hz / kHzPerMel;
}

double MelToHz(double mel) {
  if (mel >= kMinLogMel) return kMinLogHz * std::exp(LogStep() * (mel - kMinLogMel));
  return mel * kHzPerMel;
}

std::vector<float> BuildFilterbank() {
  std::vector<double> mel_hz(kMelBins + 2);
  const double top = HzToMel(kSampleRate / 2.0);
  for (int i = 0; i < kMelBins + 2; ++i) mel_hz[i] = MelToHz(top * i / (kMelBins + 1));
  std::vector<float> weights(static_cast<std::size_t>(kMelBins) * kFftBins, 0.0F);
  for (int m = 0; m < kMelBins; ++m) {
    const double enorm = 2.0 / (mel_hz[m + 2] - mel_hz[m]);
    for (int k = 0; k < kFftBins; ++k) {
      const double hz = static_cast<double>(k) * kSampleRate / kFftSize;
      const double lower = (hz - mel_hz[m]) / (mel_hz[m + 1] - mel_hz[m]);
      const double upper = (mel_hz[m + 2] - hz) / (mel_hz[m + 2] - mel_hz[m + 1]);
      weights[static_cast<std::size_t>(m) * kFftBins + k] =
          static_cast<float>(std::max(0.0, std::min(lower, upper)) * enorm);
    }
  }
  return weights;
}

// A DFT of the 400 windowed samples by table (n_fft is not a power of two; 201 x 400 products
// per 10 ms frame cost a few ms per second of audio, small beside the encoder).
struct DftTables {
  std::vector<double> cos_table;  // [k * kFftSize + n]
  std::vector<double> sin_table;
  std::array<double, kFftSize> window{};
  DftTables()
      : cos_table(static_cast<std::size_t>(kFftBins) * kFftSize),
        sin_table(static_cast<std::size_t>(kFftBins) * kFftSize) {
    for (int n = 0; n < kFftSize; ++n) {
      // torch.hann_window(400) is periodic: 0.5 - 0.5 cos(2 pi n / N).
      window[n] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * n / kFftSize);
    }
    for (int k = 0; k < kFftBins; ++k) {
      for (int n = 0; n < kFftSize; ++n) {
        // (k * n) mod N keeps the angle small and exact.
        const double angle = 2.0 * std::numbers::pi * ((k * n) % kFftSize) / kFftSize;
        cos_table[static_cast<std::size_t>(k) * kFftSize + n] = std::cos(angle);
        sin_table[static_cast<std::size_t>(k) * kFftSize + n] = std::sin(angle);
      }
    }
  }
};

const DftTables& Tables() {
  static const DftTables tables;
  return tables;
}

// bytes_to_unicode() of GPT-2: printable bytes stand for themselves, the other 68 bytes for
// 256, 257, ... in byte order.
const std::array<int, 324>& CodePointToByte() {
  static const std::array<int, 324> table = [] {
    std::array<int, 324> t{};
    t.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      if (printable) {
        t[b] = b;
      } else {
        t[next++] = b;
      }
    }
    return t;
  }();
  return table;
}

}  // namespace

const std::vector<float>& MelFilterbank() {
  static const std::vector<float> filters = BuildFilterbank();
  return filters;
}

namespace {

// Frames are computed in blocks of this many, each from one read of the samples it needs.
constexpr int kBlockFrames = 1000;  // 10 s: 1.3 MB of samples

}  // namespace

LogMel LogMelSpectrogram(std::size_t samples, std::size_t pad_samples, const SampleReader& read) {
  const std::size_t total = samples + pad_samples;
  LogMel mel;
  mel.frames = static_cast<int>(total / kHopLength);  // 1 + total/hop frames, the last dropped
  mel.data.assign(static_cast<std::size_t>(kMelBins) * static_cast<std::size_t>(mel.frames), 0.0F);
  const auto& tables = Tables();
  const auto& filters = MelFilterbank();
  std::vector<double> block;  // samples [lo, lo + block.size()) of the audio
  long long lo = 0;
  const auto sample = [&](long long i) -> double {
    // torch.stft(center=True, pad_mode="reflect"): index -i is i, index total-1+i is total-1-i.
    const auto n = static_cast<long long>(total);
    if (n <= 1) return i == 0 && samples > 0 ? block[0] : 0.0;
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
    if (i < 0 || i >= n || static_cast<std::size_t>(i) >= samples) return 0.0;  // padding
    return block[static_cast<std::size_t>(i - lo)];
  };
  std::array<double, kFftSize> frame{};
  std::array<double, kFftBins> power{};
  float max_log = -std::numeric_limits<float>::infinity();
  for (int f = 0; f < mel.frames; ++f) {
    if (f % kBlockFrames == 0) {
      // The samples this block's frames reach, reflections at either end included.
      const int last_frame = std::min(mel.frames, f + kBlockFrames) - 1;
      const long long want_lo = static_cast<long long>(f) * kHopLength - kFftSize / 2;
      const long long want_hi = static_cast<long long>(last_frame) * kHopLength + kFftSize / 2 + 1;
      const auto n = static_cast<long long>(total);
      lo = std::clamp<long long>(want_lo, 0, static_cast<long long>(samples));
      long long hi = std::clamp<long long>(want_hi, 0, static_cast<long long>(samples));
      if (want_lo < 0) hi = std::max(hi, std::min<long long>(-want_lo + 1, samples));  // reflected
      if (want_hi > n) lo = std::min(lo, std::max<long long>(0, 2 * (n - 1) - want_hi));
      block.resize(static_cast<std::size_t>(std::max<long long>(0, hi - lo)));
      if (!block.empty()) read(static_cast<std::size_t>(lo), block);
    }
    const long long first = static_cast<long long>(f) * kHopLength - kFftSize / 2;
    bool silent = true;
    for (int n = 0; n < kFftSize; ++n) {
      frame[n] = sample(first + n) * tables.window[n];
      silent = silent && frame[n] == 0.0;
    }
    // The 30 s of zeros Whisper appends are most of a short file's frames: no DFT for them.
    if (silent) power.fill(0.0);
    for (int k = 0; k < kFftBins && !silent; ++k) {
      const double* c = &tables.cos_table[static_cast<std::size_t>(k) * kFftSize];
      const double* s = &tables.sin_table[static_cast<std::size_t>(k) * kFftSize];
      double re = 0;
      double im = 0;
      for (int n = 0; n < kFftSize; ++n) {
        re += frame[n] * c[n];
        im += frame[n] * s[n];
      }
      power[k] = re * re + im * im;
    }
    for (int m = 0; m < kMelBins; ++m) {
      const float* w = &filters[static_cast<std::size_t>(m) * kFftBins];
      double energy = 0;
      for (int k = 0; k < kFftBins; ++k) energy += w[k] * power[k];
      const auto log_energy = static_cast<float>(std::log10(std::max(energy, 1e-10)));
      mel.data[static_cast<std::size_t>(m) * static_cast<std::size_t>(mel.frames) +
               static_cast<std::size_t>(f)] = log_energy;
      max_log = std::max(max_log, log_energy);
    }
  }
  for (float& v : mel.data) v = (std::max(v, max_log - 8.0F) + 4.0F) / 4.0F;
  return mel;
}

namespace {

template <typename Sample>
SampleReader SpanReader(std::span<const Sample> samples, double scale) {
  return [samples, scale](std::size_t first, std::span<double> out) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = scale * static_cast<double>(samples[first + i]);
    }
  };
}

}  // namespace

LogMel LogMelSpectrogram(std::span<const float> samples, std::size_t pad_samples) {
  return LogMelSpectrogram(samples.size(), pad_samples, SpanReader(samples, 1.0));
}

LogMel LogMelSpectrogram(std::span<const std::int16_t> samples, std::size_t pad_samples) {
  return LogMelSpectrogram(samples.size(), pad_samples, SpanReader(samples, 1.0 / 32768.0));
}

std::vector<float> MelWindow(const LogMel& mel, int first_frame) {
  std::vector<float> window(static_cast<std::size_t>(kMelBins) * kWindowFrames, 0.0F);
  const int available = std::clamp(mel.frames - first_frame, 0, kWindowFrames);
  for (int m = 0; m < kMelBins; ++m) {
    for (int f = 0; f < available; ++f) {
      window[static_cast<std::size_t>(m) * kWindowFrames + static_cast<std::size_t>(f)] =
          mel.at(m, first_frame + f);
    }
  }
  return window;
}

std::optional<std::string> TokenBytes(std::string_view token) {
  const auto& table = CodePointToByte();
  std::string out;
  std::size_t i = 0;
  while (i < token.size()) {
    const auto lead = static_cast<unsigned char>(token[i]);
    int cp = 0;
    std::size_t len = 0;
    if (lead < 0x80) {
      cp = lead;
      len = 1;
    } else if ((lead & 0xE0) == 0xC0) {
      cp = lead & 0x1F;
      len = 2;
    } else {
      return std::nullopt;  // every GPT-2 byte symbol is below U+0800: one or two bytes
    }
    if (i + len > token.size()) return std::nullopt;
    for (std::size_t j = 1; j < len; ++j) {
      const auto cont = static_cast<unsigned char>(token[i + j]);
      if ((cont & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cont & 0x3F);
    }
    if (cp >= static_cast<int>(table.size()) || table[static_cast<std::size_t>(cp)] < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(table[static_cast<std::size_t>(cp)]));
    i += len;
  }
  return out;
}

std::string DecodeTokens(const std::vector<std::string_view>& tokens) {
  std::string text;
  for (const auto token : tokens) {
    if (auto bytes = TokenBytes(token)) text += *bytes;
  }
  return text;
}

}  // namespace chansum::asr::whisper
