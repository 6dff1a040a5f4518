// Real decoding: speech generated with flite (voice slt), converted with ffmpeg, transcribed with
// Debian's pocketsphinx en-us model (all installed by deploy/local/setup).
#include "chansum/asr/pocketsphinx_engine.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sphinxbase/err.h>

#include <cstdio>
#include <latch>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "chansum/asr/wav.hpp"
#include "test_audio.hpp"

namespace chansum::asr {
namespace {

using testing::TempDir;

constexpr const char* kScript =
    "The history of the printing press begins in Germany around fourteen fifty. "
    "Within fifty years printing had spread literacy across Europe.";

std::set<std::string> WordsOf(const std::string& text) {
  std::istringstream in(text);
  std::set<std::string> out;
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

void ExpectWellFormed(const Transcript& t) {
  ASSERT_FALSE(t.segments.empty());
  EXPECT_EQ(t.source, "asr");
  EXPECT_EQ(t.engine, "pocketsphinx");
  EXPECT_EQ(t.language, "en");
  EXPECT_EQ(t.text, JoinSegments(t.segments));
  double prev_end = 0;
  for (const auto& s : t.segments) {
    EXPECT_FALSE(s.text.empty());
    EXPECT_GE(s.start, prev_end) << s.text;
    EXPECT_GT(s.end, s.start) << s.text;
    EXPECT_LE(s.end, t.audio_seconds + 1e-9) << s.text;
    prev_end = s.end;
    // No fillers or pronunciation marks leak into the text.
    EXPECT_EQ(s.text.find_first_of("<>[]()+"), std::string::npos) << s.text;
  }
}

class PocketsphinxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    speech_dir = new TempDir();
    ASSERT_TRUE(testing::Speak(kScript, *speech_dir / "speech.wav")) << "flite/ffmpeg failed";
  }
  static void TearDownTestSuite() {
    delete speech_dir;
    speech_dir = nullptr;
  }
  static std::filesystem::path Speech() { return *speech_dir / "speech.wav"; }
  static inline TempDir* speech_dir = nullptr;
};

TEST_F(PocketsphinxTest, RecognizesFliteSpeech) {
  PocketsphinxEngine engine(AsrConfig{});
  auto t = engine.Transcribe(Speech());
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  ExpectWellFormed(*t);
  auto info = ReadWavInfo(Speech());
  ASSERT_TRUE(info.ok());
  EXPECT_DOUBLE_EQ(t->audio_seconds, info->seconds());
  EXPECT_GT(t->audio_seconds, 4.0);
  const auto words = WordsOf(t->text);
  for (const char* w : {"printing", "press", "germany", "europe", "literacy"}) {
    EXPECT_TRUE(words.count(w)) << "missing \"" << w << "\" in: " << t->text;
  }
  // The pause between the two sentences separates them.
  EXPECT_GE(t->segments.size(), 2u) << t->text;
}

TEST_F(PocketsphinxTest, TimesFollowTheAudioAcrossUtterances) {
  TempDir dir;
  ASSERT_TRUE(testing::Speak("The printing press changed Europe.", dir / "a.wav"));
  // Two seconds of digital silence, then the script: the second part must be timed after it.
  const auto joined = dir / "joined.wav";
  ASSERT_EQ(testing::Run({"ffmpeg",
                          "-nostdin",
                          "-loglevel",
                          "error",
                          "-i",
                          (dir / "a.wav").string(),
                          "-f",
                          "lavfi",
                          "-t",
                          "2",
                          "-i",
                          "anullsrc=r=16000:cl=mono",
                          "-i",
                          Speech().string(),
                          "-filter_complex",
                          "[0:a][1:a][2:a]concat=n=3:v=0:a=1",
                          "-ar",
                          "16000",
                          "-ac",
                          "1",
                          "-c:a",
                          "pcm_s16le",
                          joined.string()}),
            0);
  auto first = ReadWavInfo(dir / "a.wav");
  ASSERT_TRUE(first.ok());
  const double second_part = first->seconds() + 2.0;

  // Small utterances (3-5 s) force several ps_start_utt/ps_end_utt rounds.
  DecodeOptions options;
  options.min_utterance_seconds = 3;
  options.max_utterance_seconds = 5;
  PocketsphinxEngine engine(AsrConfig{}, options);
  auto t = engine.Transcribe(joined);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  ExpectWellFormed(*t);
  const auto words = WordsOf(t->text);
  for (const char* w : {"printing", "press", "germany", "europe"}) {
    EXPECT_TRUE(words.count(w)) << "missing \"" << w << "\" in: " << t->text;
  }
  // The first segment is the short sentence; the silence splits it from the rest.
  EXPECT_LT(t->segments.front().end, first->seconds() + 0.3) << t->segments.front().text;
  bool found_late = false;
  for (const auto& s : t->segments) {
    if (s.text.find("germany") != std::string::npos) {
      EXPECT_GT(s.start, second_part - 0.3) << s.text;
      found_late = true;
    }
  }
  EXPECT_TRUE(found_late) << t->text;
}

// Same audio, same transcript: a decoder's state (the live cepstral mean normalisation) must not
// carry from one file to the next. "Other" is different speech through a telephone-like band
// pass at a lower level, so its cepstral mean is far from the speech's; a decoder that kept it
// heard the speech differently afterwards.
TEST_F(PocketsphinxTest, SameAudioGivesTheSameTranscriptWhateverWasDecodedBefore) {
  TempDir dir;
  const auto spoken = dir / "other_spoken.wav";
  ASSERT_TRUE(
      testing::Speak("Volcanoes form where hot melted rock rises from deep inside the "
                     "earth, and some islands were made by them over millions of years.",
                     spoken));
  const auto other = dir / "other.wav";
  ASSERT_EQ(testing::Run({"ffmpeg", "-nostdin", "-loglevel", "error", "-i", spoken.string(), "-af",
                          "highpass=f=600,lowpass=f=2400,volume=0.25", "-ar", "16000", "-ac", "1",
                          "-c:a", "pcm_s16le", other.string()}),
            0);
  const auto decode = [](PocketsphinxEngine& engine, const std::filesystem::path& wav) {
    auto t = engine.Transcribe(wav);
    EXPECT_TRUE(t.ok()) << t.error().ToString();
    return t.ok() ? ToJson(*t).dump() : std::string();
  };
  for (const bool per_utterance : {true, false}) {
    SCOPED_TRACE(per_utterance ? "CMN per utterance" : "live CMN");
    // Short utterances, so live CMN also carries between the utterances of one file.
    DecodeOptions options;
    options.min_utterance_seconds = 2;
    options.max_utterance_seconds = 4;
    options.cmn_per_utterance = per_utterance;

    PocketsphinxEngine fresh_a(AsrConfig{}, options);
    const std::string a = decode(fresh_a, Speech());
    PocketsphinxEngine fresh_b(AsrConfig{}, options);
    const std::string b = decode(fresh_b, other);
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());

    PocketsphinxEngine engine(AsrConfig{}, options);
    EXPECT_EQ(decode(engine, Speech()), a);  // the same file twice in a row
    EXPECT_EQ(decode(engine, Speech()), a);
    EXPECT_EQ(decode(engine, other), b);     // B after A, as on a fresh decoder
    EXPECT_EQ(decode(engine, Speech()), a);  // A after B, as the first time
  }
}

// Per-utterance CMN takes each utterance's own mean out, so the level of the recording (a
// constant in the log-energy cepstrum) does not change what is heard; live CMN starts from the
// model's -cmninit and hears a quiet recording differently until its running mean has adapted.
TEST_F(PocketsphinxTest, CmnPerUtteranceHearsAQuietRecordingAlike) {
  TempDir dir;
  const auto quiet = dir / "quiet.wav";
  ASSERT_EQ(
      testing::Run({"ffmpeg", "-nostdin", "-loglevel", "error", "-i", Speech().string(), "-af",
                    "volume=0.2", "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", quiet.string()}),
      0);
  PocketsphinxEngine engine(AsrConfig{});
  auto loud = engine.Transcribe(Speech());
  auto soft = engine.Transcribe(quiet);
  ASSERT_TRUE(loud.ok()) << loud.error().ToString();
  ASSERT_TRUE(soft.ok()) << soft.error().ToString();
  EXPECT_EQ(soft->text, loud->text);
}

TEST_F(PocketsphinxTest, ShouldStopCancelsAndEngineStaysUsable) {
  PocketsphinxEngine engine(AsrConfig{});
  auto cancelled = engine.Transcribe(Speech(), [] { return true; });
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().code, "cancelled");
  EXPECT_TRUE(cancelled.error().transient());

  // Per-utterance CMN: polled before each utterance (3-4 s each here), stopped at the first true.
  DecodeOptions short_utterances;
  short_utterances.min_utterance_seconds = 3;
  short_utterances.max_utterance_seconds = 4;
  PocketsphinxEngine per_utterance(AsrConfig{}, short_utterances);
  int polls = 0;
  auto midway = per_utterance.Transcribe(Speech(), [&] { return ++polls > 1; });
  ASSERT_FALSE(midway.ok());
  EXPECT_EQ(midway.error().code, "cancelled");
  EXPECT_EQ(polls, 2);

  // Live CMN: polled once per chunk.
  DecodeOptions live;
  live.cmn_per_utterance = false;
  PocketsphinxEngine live_engine(AsrConfig{}, live);
  polls = 0;
  midway = live_engine.Transcribe(Speech(), [&] { return ++polls > 5; });
  ASSERT_FALSE(midway.ok());
  EXPECT_EQ(midway.error().code, "cancelled");
  EXPECT_EQ(polls, 6);

  auto again = engine.Transcribe(Speech(), [] { return false; });
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_TRUE(WordsOf(again->text).count("printing")) << again->text;
}

TEST_F(PocketsphinxTest, SilenceGivesEmptyTranscript) {
  TempDir dir;
  testing::WriteWav(dir / "silence.wav", 16000, 1, 16, std::vector<std::int16_t>(16000, 0));
  PocketsphinxEngine engine(AsrConfig{});
  auto t = engine.Transcribe(dir / "silence.wav");
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_DOUBLE_EQ(t->audio_seconds, 1.0);
  EXPECT_TRUE(t->text.empty()) << t->text;
}

TEST_F(PocketsphinxTest, RejectsWrongAudioFormat) {
  TempDir dir;
  testing::WriteWav(dir / "cd.wav", 44100, 2, 16, std::vector<std::int16_t>(4410, 0));
  PocketsphinxEngine engine(AsrConfig{});
  auto t = engine.Transcribe(dir / "cd.wav");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, "bad_audio");
  EXPECT_THAT(t.error().message, ::testing::HasSubstr("44100 Hz stereo"));
}

// The transcription service loads one engine at start (to report a broken model), then one per
// worker thread, the workers' at the same moment, and decodes in all of them at once.
TEST_F(PocketsphinxTest, EnginesCreatedAndUsedInParallelThreadsDecodeAlike) {
  PocketsphinxEngine probe(AsrConfig{});
  auto reference = probe.Transcribe(Speech());
  ASSERT_TRUE(reference.ok()) << reference.error().ToString();
  constexpr int kThreads = 2;
  std::latch start(kThreads);
  std::vector<std::string> texts(kThreads), errors(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      PocketsphinxEngine engine(AsrConfig{});
      auto t = engine.Transcribe(Speech());
      if (t.ok()) {
        texts[i] = t->text;
      } else {
        errors[i] = t.error().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(errors[i], "") << "thread " << i;
    EXPECT_EQ(texts[i], reference->text) << "thread " << i;
  }
}

// sphinxbase has ONE process-wide log stream. A decoder given "-logfn" replaced it when created and
// fclosed the previous FILE, without a lock, while decoders in other threads might be writing to
// it (or closing it too): the heap corruption behind the transcription service's abort at SIGTERM.
// Creating an engine must leave the stream alone, so another thread's decoder never sees it closed.
TEST(PocketsphinxThreadingTest, CreatingAnEngineNeverReplacesTheSharedLogStream) {
  PocketsphinxEngine first(AsrConfig{});
  std::FILE* const stream = err_get_logfp();
  PocketsphinxEngine second(AsrConfig{});
  EXPECT_EQ(err_get_logfp(), stream);
  EXPECT_EQ(stream, nullptr);  // sphinxbase logs nowhere (it wrote to /dev/null before)
}

TEST(PocketsphinxConfigTest, MissingModelFailsClearly) {
  AsrConfig config;
  config.model_dir = "/nonexistent/model";
  auto engine = PocketsphinxEngine::Create(config);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.error().code, "asr_model");
  EXPECT_THAT(engine.error().message, ::testing::HasSubstr("/nonexistent/model/en-us.lm.bin"));
  EXPECT_THAT(engine.error().message, ::testing::HasSubstr("ASR_MODEL_DIR"));
  EXPECT_THROW(PocketsphinxEngine{config}, std::runtime_error);
}

TEST(PocketsphinxConfigTest, ReadsEnvironment) {
  ConfigReader env(std::map<std::string, std::string>{
      {"ASR_ENGINE", "pocketsphinx"}, {"ASR_MODEL_DIR", "/models"}, {"KEEP_MEDIA", "true"}});
  const auto config = AsrConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(config.engine, "pocketsphinx");
  EXPECT_EQ(config.model_dir, "/models");
  EXPECT_EQ(config.dict_path(), "/models/cmudict-en-us.dict");
  EXPECT_TRUE(config.keep_audio);

  EXPECT_TRUE(config.pocketsphinx_args.empty());

  ConfigReader bad(std::map<std::string, std::string>{{"ASR_ENGINE", "whisper-magic"}});
  (void)AsrConfig::FromEnv(bad);
  EXPECT_THROW(bad.Finish(), ConfigError);
}

TEST(PocketsphinxConfigTest, ExtraDecoderOptionsArePairsAndReachTheDecoder) {
  ConfigReader env(std::map<std::string, std::string>{
      {"ASR_ENGINE", "pocketsphinx"}, {"ASR_POCKETSPHINX_ARGS", "  -beam 1e-60\t-lw  9.5 "}});
  const auto config = AsrConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(config.pocketsphinx_args, (std::vector<std::string>{"-beam", "1e-60", "-lw", "9.5"}));
  EXPECT_NO_THROW(PocketsphinxEngine{config});

  for (const char* odd : {"-beam", "beam 1e-60", "-beam 1e-60 -lw"}) {
    ConfigReader bad(std::map<std::string, std::string>{{"ASR_ENGINE", "pocketsphinx"},
                                                        {"ASR_POCKETSPHINX_ARGS", odd}});
    (void)AsrConfig::FromEnv(bad);
    EXPECT_THROW(bad.Finish(), ConfigError) << odd;
  }
  // An option pocketsphinx does not know is refused when the engine is created (at start).
  AsrConfig unknown;
  unknown.pocketsphinx_args = {"-no_such_option", "1"};
  auto engine = PocketsphinxEngine::Create(unknown);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.error().code, "asr_model");
  EXPECT_THAT(engine.error().message, ::testing::HasSubstr("ASR_POCKETSPHINX_ARGS"));
}

}  // namespace
}  // namespace chansum::asr
