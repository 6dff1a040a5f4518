// The embedded Whisper engine: its log-mel spectrogram and BPE decoding (pure C++), the window
// splitting, and real decodes with Whisper tiny.en through CTranslate2 (installed by
// deploy/local/whisper; the engine tests skip only in a build that has no engine).
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "chansum/asr/config.hpp"
#include "chansum/asr/wav.hpp"
#include "chansum/asr/whisper_engine.hpp"
#include "chansum/asr/whisper_features.hpp"
#include "test_audio.hpp"

namespace chansum::asr {
namespace {

using testing::Speak;
using testing::TempDir;
using testing::WriteWav;

std::vector<float> Tone(double hz, double amplitude, double seconds) {
  std::vector<float> s(static_cast<std::size_t>(seconds * whisper::kSampleRate));
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * hz *
                                                   static_cast<double>(i) / whisper::kSampleRate));
  }
  return s;
}

int PeakMelBin(const whisper::LogMel& mel, int frame) {
  int best = 0;
  for (int m = 1; m < whisper::kMelBins; ++m) {
    if (mel.at(m, frame) > mel.at(best, frame)) best = m;
  }
  return best;
}

TEST(WhisperMel, FilterbankIsLibrosasSlaneyMel) {
  // Values of librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), as in Whisper's
  // mel_filters.npz.
  const auto& w = whisper::MelFilterbank();
  ASSERT_EQ(w.size(), static_cast<std::size_t>(whisper::kMelBins * whisper::kFftBins));
  EXPECT_FLOAT_EQ(w[0], 0.0F);
  EXPECT_NEAR(w[1], 0.02486259, 1e-7);
  EXPECT_FLOAT_EQ(w[2], 0.0F);
  EXPECT_NEAR(w[whisper::kFftBins + 1], 0.00199082, 1e-7);
  EXPECT_NEAR(w[whisper::kFftBins + 2], 0.02287177, 1e-7);
  EXPECT_NEAR(w[79 * whisper::kFftBins + 195], 0.00224380, 1e-7);
  EXPECT_FLOAT_EQ(w[79 * whisper::kFftBins + 200], 0.0F);  // 8 kHz, the top filter's end
}

TEST(WhisperMel, SilenceIsFlatAtTheFloor) {
  const std::vector<float> silence(16000, 0.0F);
  const auto mel = whisper::LogMelSpectrogram(silence);
  EXPECT_EQ(mel.frames, 100);  // 10 ms frames, the last STFT frame dropped
  // log10(1e-10) = -10 everywhere, which is also the maximum: (-10 + 4) / 4.
  for (const float v : mel.data) ASSERT_FLOAT_EQ(v, -1.5F);
}

TEST(WhisperMel, PureTonePeaksInItsMelBin) {
  // 440 Hz = FFT bin 11 (40 Hz apart), 1000 Hz = bin 25, 4000 Hz = bin 100.
  for (const auto& [hz, bin] : {std::pair{440.0, 11}, {1000.0, 26}, {4000.0, 62}}) {
    const auto mel = whisper::LogMelSpectrogram(Tone(hz, 0.5, 1.0));
    EXPECT_EQ(PeakMelBin(mel, 50), bin) << hz << " Hz";
  }
}

TEST(WhisperMel, ToneEnergyMatchesTheHannWindowedDft) {
  // A sine of amplitude A on FFT bin k: |X[k]| = A N / 4 with the periodic Hann window (N = 400)
  // and A N / 8 on bins k +- 1; nothing elsewhere. The tone's peak is the spectrogram's maximum.
  const auto mel = whisper::LogMelSpectrogram(Tone(1000, 0.5, 1.0));
  const auto& w = whisper::MelFilterbank();
  const double main = std::pow(0.5 * 400 / 4, 2);
  const double side = std::pow(0.5 * 400 / 8, 2);
  const int m = 26;
  const double energy = w[m * whisper::kFftBins + 24] * side +
                        w[m * whisper::kFftBins + 25] * main + w[m * whisper::kFftBins + 26] * side;
  EXPECT_NEAR(mel.at(m, 50), (std::log10(energy) + 4) / 4, 1e-4);
  // Everything is floored at 8 (log10 units) below the maximum: (max - 8 + 4) / 4.
  const float floor = static_cast<float>((std::log10(energy) - 8 + 4) / 4);
  EXPECT_NEAR(*std::min_element(mel.data.begin(), mel.data.end()), floor, 1e-4);
}

TEST(WhisperMel, PcmSamplesGiveTheSameAsFloats) {
  const auto tone = Tone(440, 0.25, 0.5);
  std::vector<std::int16_t> pcm(tone.size());
  std::vector<float> exact(tone.size());
  for (std::size_t i = 0; i < tone.size(); ++i) {
    pcm[i] = static_cast<std::int16_t>(std::lround(tone[i] * 32768.0F));
    exact[i] = static_cast<float>(pcm[i]) / 32768.0F;
  }
  const auto from_pcm = whisper::LogMelSpectrogram(std::span<const std::int16_t>(pcm), 1600);
  const auto from_float = whisper::LogMelSpectrogram(std::span<const float>(exact), 1600);
  ASSERT_EQ(from_pcm.frames, from_float.frames);
  for (std::size_t i = 0; i < from_pcm.data.size(); ++i) {
    ASSERT_NEAR(from_pcm.data[i], from_float.data[i], 1e-5) << i;
  }
}

TEST(WhisperMel, PaddingAndWindows) {
  const auto tone = Tone(1000, 0.5, 1.0);
  const auto mel = whisper::LogMelSpectrogram(tone, whisper::kWindowSamples);
  EXPECT_EQ(mel.frames, 100 + whisper::kWindowFrames);
  const auto window = whisper::MelWindow(mel, 0);
  ASSERT_EQ(window.size(), static_cast<std::size_t>(whisper::kMelBins * whisper::kWindowFrames));
  EXPECT_FLOAT_EQ(window[26 * whisper::kWindowFrames + 50], mel.at(26, 50));
  // Past the tone the appended zeros are at the floor; past the spectrogram MelWindow pads 0.
  EXPECT_LT(window[26 * whisper::kWindowFrames + 500], mel.at(26, 50) - 1.5F);
  const auto late = whisper::MelWindow(mel, mel.frames - 10);
  EXPECT_FLOAT_EQ(late[26 * whisper::kWindowFrames + 9], mel.at(26, mel.frames - 1));
  EXPECT_FLOAT_EQ(late[26 * whisper::kWindowFrames + 10], 0.0F);
}

TEST(WhisperMel, BlocksOfALongFileJoinWithoutASeam) {
  // 25 s of noise is read in three blocks; the same noise after 5 s of zeros meets the block
  // edges (every 10 s) at other frames. Away from the start's reflection, frame t of the one is
  // frame t + 500 of the other: the zeros change neither the frames nor the maximum.
  std::vector<float> noise(25 * whisper::kSampleRate);
  std::uint32_t state = 12345;
  for (auto& v : noise) {
    state = state * 1664525U + 1013904223U;
    v = static_cast<float>(static_cast<int>(state >> 16) - 32768) / 65536.0F;
  }
  std::vector<float> shifted(5 * whisper::kSampleRate, 0.0F);
  shifted.insert(shifted.end(), noise.begin(), noise.end());
  const auto mel = whisper::LogMelSpectrogram(noise, 1600);
  const auto later = whisper::LogMelSpectrogram(shifted, 1600);
  ASSERT_EQ(later.frames, mel.frames + 500);
  for (int f = 2; f < mel.frames; ++f) {
    for (int m = 0; m < whisper::kMelBins; ++m) {
      ASSERT_NEAR(mel.at(m, f), later.at(m, f + 500), 1e-5) << "frame " << f << ", bin " << m;
    }
  }
  // Read through a reader, each sample is asked for about once, never the whole file at once.
  std::size_t asked = 0;
  std::size_t largest = 0;
  const auto streamed =
      whisper::LogMelSpectrogram(noise.size(), 1600, [&](std::size_t first, std::span<double> out) {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = noise[first + i];
        asked += out.size();
        largest = std::max(largest, out.size());
      });
  EXPECT_EQ(streamed.data, mel.data);
  EXPECT_LT(asked, noise.size() + 3 * 401);
  EXPECT_LE(largest, std::size_t{1000 * whisper::kHopLength + 401});
}

TEST(WhisperBpe, MapsByteSymbolsBackToBytes) {
  EXPECT_EQ(whisper::TokenBytes("\xC4\xA0hello"), " hello");  // "Ġhello"
  EXPECT_EQ(whisper::TokenBytes("\xC4\x8A"), "\n");           // "Ċ"
  EXPECT_EQ(whisper::TokenBytes("1450,"), "1450,");
  // "é" is the bytes C3 A9, spelled "Ã©" (U+00C3 U+00A9) in the vocabulary.
  EXPECT_EQ(whisper::TokenBytes("\xC3\x83\xC2\xA9"), "\xC3\xA9");
  // U+00AD (soft hyphen) is not printable, so byte 0xAD is spelled U+0143: "Ń".
  EXPECT_EQ(whisper::TokenBytes("\xC5\x83"), "\xAD");
  EXPECT_EQ(whisper::TokenBytes(" "), std::nullopt);             // a raw space is no symbol
  EXPECT_EQ(whisper::TokenBytes("\xC5\x84"), std::nullopt);      // U+0144: past the 68
  EXPECT_EQ(whisper::TokenBytes("\xE4\xB8\x80"), std::nullopt);  // U+4E00
  EXPECT_EQ(whisper::TokenBytes("\xC4"), std::nullopt);          // cut UTF-8
  // A character split over two tokens joins again.
  EXPECT_EQ(whisper::DecodeTokens({"\xC4\xA0"
                                   "caf",
                                   "\xC3\x83", "\xC2\xA9", "."}),
            " caf\xC3\xA9.");
}

TEST(WhisperWindow, TimestampPairsMakeSegments) {
  const int tb = 50363;
  // <|0.00|> a b <|3.00|><|3.00|> c <|6.00|>: two segments, ending with a lone timestamp, so the
  // whole window was used.
  auto r = SplitWindow({tb, 100, 101, tb + 150, tb + 150, 102, tb + 300}, tb, 3000);
  ASSERT_EQ(r.segments.size(), 2u);
  EXPECT_DOUBLE_EQ(r.segments[0].start, 0.0);
  EXPECT_DOUBLE_EQ(r.segments[0].end, 3.0);
  EXPECT_EQ(r.segments[0].text_tokens, (std::vector<int>{100, 101}));
  EXPECT_DOUBLE_EQ(r.segments[1].start, 3.0);
  EXPECT_DOUBLE_EQ(r.segments[1].end, 6.0);
  EXPECT_EQ(r.segments[1].text_tokens, (std::vector<int>{102}));
  EXPECT_EQ(r.advance_frames, 3000);
  // A segment cut off by the window's end: keep the complete one, start again at <|3.00|>.
  r = SplitWindow({tb, 100, tb + 150, tb + 150, 102, 103}, tb, 3000);
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].text_tokens, (std::vector<int>{100}));
  EXPECT_EQ(r.advance_frames, 300);
  // No timestamp pair: one segment up to the last timestamp, and the window is done.
  r = SplitWindow({tb, 100, 101, tb + 100}, tb, 1200);
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_DOUBLE_EQ(r.segments[0].end, 2.0);
  EXPECT_EQ(r.advance_frames, 1200);
  r = SplitWindow({100, 101}, tb, 1200);
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_DOUBLE_EQ(r.segments[0].end, 12.0);
  EXPECT_EQ(r.advance_frames, 1200);
}

class WhisperEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!WhisperEngine::Available()) GTEST_SKIP() << "built without CTranslate2";
    config_.engine = "whisper";
  }
  AsrConfig config_;
  TempDir dir_;
};

TEST_F(WhisperEngineTest, HearsTheWordsWithTimes) {
  const auto wav = dir_ / "speech.wav";
  ASSERT_TRUE(
      Speak("Honeybees are important for farming. A worker bee visits hundreds of "
            "flowers every day to collect nectar and pollen.",
            wav));
  WhisperEngine engine(config_);
  auto t = engine.Transcribe(wav);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t->engine, "whisper/tiny.en");
  std::string lower = t->text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* word : {"honeybees", "farming", "flowers", "nectar", "pollen"}) {
    EXPECT_NE(lower.find(word), std::string::npos) << word << " not in: " << t->text;
  }
  ASSERT_FALSE(t->segments.empty());
  double previous = 0;
  for (const auto& s : t->segments) {
    EXPECT_GE(s.start, previous);
    EXPECT_GE(s.end, s.start);
    EXPECT_LE(s.end, t->audio_seconds + 0.01);
    previous = s.start;
  }
  EXPECT_EQ(t->text, JoinSegments(t->segments));
}

TEST_F(WhisperEngineTest, SameAudioGivesTheSameTranscript) {
  const auto a = dir_ / "a.wav";
  const auto b = dir_ / "b.wav";
  ASSERT_TRUE(Speak("The internet sends data in small pieces called packets.", a));
  ASSERT_TRUE(Speak("Bakers make bread from flour, water, salt, and yeast.", b));
  WhisperEngine engine(config_);
  auto first = engine.Transcribe(a);
  ASSERT_TRUE(first.ok());
  auto other = engine.Transcribe(b);
  ASSERT_TRUE(other.ok());
  auto again = engine.Transcribe(a);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*first, *again);
  WhisperEngine fresh(config_);
  auto from_fresh = fresh.Transcribe(a);
  ASSERT_TRUE(from_fresh.ok());
  EXPECT_EQ(*first, *from_fresh);
  EXPECT_NE(first->text, other->text);
}

TEST_F(WhisperEngineTest, LongAudioIsDecodedInSuccessiveWindows) {
  // Speech, 28 s of silence, speech: more than one 30 s window, with times on the audio clock.
  const auto first = dir_ / "first.wav";
  const auto second = dir_ / "second.wav";
  ASSERT_TRUE(
      Speak("A volcano forms where hot melted rock rises from deep inside the earth.", first));
  ASSERT_TRUE(Speak("Millions of people watched the landing on television.", second));
  auto a = ReadWav(first);
  auto b = ReadWav(second);
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<std::int16_t> samples = a->samples;
  samples.resize(samples.size() + std::size_t{28} * 16000, 0);
  const double second_starts = static_cast<double>(samples.size()) / 16000;
  samples.insert(samples.end(), b->samples.begin(), b->samples.end());
  const auto wav = dir_ / "long.wav";
  WriteWav(wav, 16000, 1, 16, samples);
  WhisperEngine engine(config_);
  auto t = engine.Transcribe(wav);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_NE(t->text.find("volcano"), std::string::npos) << t->text;
  EXPECT_NE(t->text.find("television"), std::string::npos) << t->text;
  ASSERT_GE(t->segments.size(), 2u);
  EXPECT_LT(t->segments.front().end, 10.0);
  const auto& last = t->segments.back();
  EXPECT_NE(last.text.find("television"), std::string::npos) << last.text;
  // In the second window (which starts at 30 s); Whisper puts a segment's start at the pause
  // before it rather than at its first word, here up to the window's start 2 s earlier.
  EXPECT_GE(last.start, 29.9);
  EXPECT_LE(last.start, second_starts + 1.0);
  EXPECT_GT(last.end, second_starts + 1.0);
  EXPECT_LE(last.end, t->audio_seconds + 0.01);
}

TEST_F(WhisperEngineTest, LeavesTheProcesssLoggingAlone) {
  // CTranslate2 makes its own logger spdlog's default and sets every logger to warnings when it
  // first logs: the transcription service's JSON logger must stay the default, at its level.
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>(
      "whisper-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_level(spdlog::level::info);
  spdlog::register_logger(logger);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  {
    WhisperEngine engine(config_);
    const auto wav = dir_ / "speech.wav";
    ASSERT_TRUE(Speak("Logging stays.", wav));
    EXPECT_TRUE(engine.Transcribe(wav).ok());
  }
  spdlog::info("after the engine");
  EXPECT_EQ(spdlog::default_logger(), logger);
  EXPECT_EQ(logger->level(), spdlog::level::info);
  EXPECT_NE(out.str().find("after the engine"), std::string::npos) << out.str();
  spdlog::set_default_logger(previous);
  spdlog::drop("whisper-test");
}

// The transcription service with CONCURRENCY 2 loads two engines at once: the chaos suite found
// the service logging only warnings afterwards (no "handler run" lines).
TEST_F(WhisperEngineTest, EnginesLoadedAtOnceLeaveTheLoggingAlone) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>(
      "whisper-test-2", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_level(spdlog::level::info);
  spdlog::register_logger(logger);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> loaders;
    for (int i = 0; i < 3; ++i) {
      loaders.emplace_back([this] { WhisperEngine engine(config_); });
    }
    for (auto& t : loaders) t.join();
    EXPECT_EQ(spdlog::default_logger(), logger) << "round " << round;
    EXPECT_EQ(logger->level(), spdlog::level::info) << "round " << round;
  }
  spdlog::set_default_logger(previous);
  spdlog::drop("whisper-test-2");
}

TEST_F(WhisperEngineTest, SilenceGivesEmptyTranscript) {
  const auto wav = dir_ / "silence.wav";
  WriteWav(wav, 16000, 1, 16, std::vector<std::int16_t>(std::size_t{16000} * 5, 3));
  WhisperEngine engine(config_);
  auto t = engine.Transcribe(wav);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->segments.empty()) << t->text;
  EXPECT_DOUBLE_EQ(t->audio_seconds, 5.0);
}

TEST_F(WhisperEngineTest, CancelledBetweenWindows) {
  const auto wav = dir_ / "speech.wav";
  ASSERT_TRUE(Speak("Cancel me.", wav));
  WhisperEngine engine(config_);
  auto t = engine.Transcribe(wav, [] { return true; });
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, "cancelled");
  EXPECT_TRUE(t.error().transient());
  EXPECT_TRUE(engine.Transcribe(wav).ok());  // still usable
}

TEST_F(WhisperEngineTest, BadAudioAndMissingModel) {
  const auto wav = dir_ / "stereo.wav";
  WriteWav(wav, 44100, 2, 16, std::vector<std::int16_t>(1000, 0));
  WhisperEngine engine(config_);
  auto t = engine.Transcribe(wav);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, "bad_audio");
  EXPECT_FALSE(t.error().transient());

  AsrConfig missing = config_;
  missing.whisper_model_dir = dir_ / "no-model";
  auto created = WhisperEngine::Create(missing);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, "asr_model");
  EXPECT_NE(created.error().message.find("no-model"), std::string::npos);
}

TEST(WhisperConfig, WhisperIsTheDefaultWhenInstalledElsePocketsphinx) {
  ConfigReader env(std::map<std::string, std::string>{});
  const auto config = AsrConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  const bool installed =
      WhisperEngine::Available() && std::filesystem::exists(DefaultWhisperModelDir() / "model.bin");
  EXPECT_EQ(config.engine, installed ? "whisper" : "pocketsphinx");
  EXPECT_EQ(DefaultEngine(), config.engine);
}

TEST(WhisperConfig, SettingsAreReadAndChecked) {
  ConfigReader env(std::map<std::string, std::string>{{"ASR_ENGINE", "whisper"},
                                                      {"ASR_WHISPER_THREADS", "2"},
                                                      {"ASR_WHISPER_BEAM", "5"},
                                                      {"ASR_WHISPER_COMPUTE_TYPE", "float32"}});
  const auto c = AsrConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(c.engine, "whisper");
  EXPECT_EQ(c.whisper_threads, 2);
  EXPECT_EQ(c.whisper_beam, 5);
  EXPECT_EQ(c.whisper_compute_type, "float32");
  EXPECT_EQ(c.whisper_model_dir, DefaultWhisperModelDir());
  ConfigReader bad(std::map<std::string, std::string>{
      {"ASR_ENGINE", "whisper"}, {"ASR_WHISPER_BEAM", "0"}, {"ASR_WHISPER_COMPUTE_TYPE", "fp4"}});
  (void)AsrConfig::FromEnv(bad);
  EXPECT_THROW(bad.Finish(), ConfigError);
}

}  // namespace
}  // namespace chansum::asr
