// The OpenAI-compatible transcription backend: chunking at silences and stitching, against the
// local stub (tests/stubs), whose answers say where in each uploaded chunk it heard which tone.
#include "chansum/asr/openai_engine.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "chansum/stubs/openai_stub.hpp"
#include "test_audio.hpp"

namespace chansum::asr {
namespace {

struct Burst {
  double start;  // seconds
  double seconds;
  int level;  // peak amplitude / 1000
};

std::vector<std::int16_t> Tones(double total_seconds, const std::vector<Burst>& bursts) {
  std::vector<std::int16_t> s(static_cast<std::size_t>(total_seconds * 16000), 0);
  for (const auto& b : bursts) {
    const auto from = static_cast<std::size_t>(b.start * 16000);
    const auto n = static_cast<std::size_t>(b.seconds * 16000);
    for (std::size_t i = 0; i < n && from + i < s.size(); ++i) {
      s[from + i] =
          static_cast<std::int16_t>(b.level * 1000 * std::sin(2 * M_PI * 440.0 * i / 16000.0));
    }
  }
  return s;
}

// Bursts of 2.5 s every 3 s (0.5 s gaps), levels cycling 1..9, over 45 s.
std::vector<Burst> Speechlike() {
  std::vector<Burst> b;
  int level = 1;
  for (double t = 0.5; t + 2.5 <= 45; t += 3) {
    b.push_back({t, 2.5, level});
    level = level % 9 + 1;
  }
  return b;
}

AsrConfig Config(const stubs::OpenAiStub& stub, double chunk_seconds, std::string key = "sk-a") {
  AsrConfig c;
  c.engine = "openai";
  c.api.base_url = stub.BaseUrl();
  c.api.api_key = std::move(key);
  c.api_model = "whisper-test";
  c.language = "en";
  c.chunk_seconds = chunk_seconds;
  c.api.max_retries = 2;
  return c;
}

bool InGap(double t, const std::vector<Burst>& bursts) {
  for (const auto& b : bursts) {
    if (t > b.start + 0.01 && t < b.start + b.seconds - 0.01) return false;
  }
  return true;
}

TEST(Chunking, CutsFallInSilencesAndCoverEverything) {
  const auto bursts = Speechlike();
  const auto samples = Tones(45, bursts);
  ChunkOptions o;
  o.max_chunk_seconds = 10;
  const auto chunks = PlanChunks(FrameEnergies(samples, 800), samples.size(), o);
  ASSERT_GE(chunks.size(), 5u);
  std::uint64_t next = 0;
  for (const auto& c : chunks) {
    EXPECT_EQ(c.first_sample, next);
    EXPECT_LE(c.seconds(), 10.0 + 1e-9);
    EXPECT_GT(c.seconds(), 4.9);
    next = c.first_sample + c.samples;
    if (next < samples.size()) {
      EXPECT_TRUE(InGap(static_cast<double>(next) / 16000.0, bursts))
          << "cut at " << static_cast<double>(next) / 16000.0 << " s is inside a tone";
    }
  }
  EXPECT_EQ(next, samples.size());
}

TEST(Chunking, ShortAudioIsOneChunkAndNoSilenceStillCutsAtTheMaximum) {
  ChunkOptions o;
  o.max_chunk_seconds = 10;
  const auto one = PlanChunks(FrameEnergies(Tones(8, {}), 800), 8 * 16000, o);
  ASSERT_EQ(one.size(), 1u);
  const auto loud = Tones(25, {{0, 25, 5}});
  const auto cut = PlanChunks(FrameEnergies(loud, 800), loud.size(), o);
  ASSERT_EQ(cut.size(), 3u);
  for (const auto& c : cut) EXPECT_LE(c.seconds(), 10.0 + 1e-9);
}

TEST(Stitch, OffsetsClampsAndTrims) {
  const AudioChunk chunk{16000 * 10, 16000 * 5};  // 10 s .. 15 s
  const nlohmann::json answer = {{"segments",
                                  {{{"start", 0.5}, {"end", 1.5}, {"text", " hello"}},
                                   {{"start", 4.0}, {"end", 6.0}, {"text", "world "}},
                                   {{"start", 4.5}, {"end", 4.6}, {"text", "  "}}}}};
  const auto segs = StitchChunk(answer, chunk);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0], (Segment{10.5, 11.5, "hello"}));
  EXPECT_EQ(segs[1], (Segment{14.0, 15.0, "world"}));
  const auto plain = StitchChunk({{"text", "just text"}}, chunk);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0], (Segment{10.0, 15.0, "just text"}));
}

class OpenAiEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bursts_ = Speechlike();
    testing::WriteWav(dir_ / "a.wav", 16000, 1, 16, Tones(45, bursts_));
  }
  testing::TempDir dir_;
  std::vector<Burst> bursts_;
};

TEST_F(OpenAiEngineTest, LongAudioIsChunkedAtSilencesAndStitchedInPlace) {
  // 12 s of audio is the most this server takes in one upload.
  stubs::OpenAiStub stub(
      {.api_key = "sk-a", .context_tokens = 1000, .max_file_bytes = 12 * 32000 + 44});
  ASSERT_GT(stub.Start(), 0);

  // Sent whole, the server refuses it (this is what chunking is for).
  OpenAiEngine whole(Config(stub, 100));
  auto refused = whole.Transcribe(dir_ / "a.wav");
  ASSERT_FALSE(refused.ok());
  EXPECT_FALSE(refused.error().transient());
  EXPECT_EQ(refused.error().code, "asr_bad_request");
  stub.ClearRequests();

  OpenAiEngine engine(Config(stub, 10));
  auto t = engine.Transcribe(dir_ / "a.wav");
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t->engine, "openai/whisper-test");
  EXPECT_NEAR(t->audio_seconds, 45, 0.01);
  // Every tone comes back once, at its own place in the whole audio, in order.
  ASSERT_EQ(t->segments.size(), bursts_.size()) << t->text;
  for (std::size_t i = 0; i < bursts_.size(); ++i) {
    EXPECT_EQ(t->segments[i].text, "level " + std::to_string(bursts_[i].level));
    EXPECT_NEAR(t->segments[i].start, bursts_[i].start, 0.03) << i;
    EXPECT_NEAR(t->segments[i].end, bursts_[i].start + bursts_[i].seconds, 0.03) << i;
  }
  const auto log = stub.Requests();
  ASSERT_GE(log.size(), 5u);
  for (const auto& r : log) {
    EXPECT_EQ(r["status"], 200);
    EXPECT_EQ(r["model"], "whisper-test");
    EXPECT_EQ(r["response_format"], "verbose_json");
    EXPECT_EQ(r["language"], "en");
    EXPECT_LE(r["file_bytes"].get<long>(), 10 * 32000 + 44);
    EXPECT_EQ(r["authorization"], "Bearer sk-a");
  }
}

TEST_F(OpenAiEngineTest, WithoutAsrLanguageTheDetectedLanguageIsRecorded) {
  stubs::OpenAiStub stub;
  ASSERT_GT(stub.Start(), 0);
  auto config = Config(stub, 100);
  config.language = "";  // let the endpoint detect it (the stub answers "english")
  OpenAiEngine engine(config);
  auto t = engine.Transcribe(dir_ / "a.wav");
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t->language, "en");
  for (const auto& r : stub.Requests()) EXPECT_EQ(r["language"], "") << "no language sent";
  EXPECT_EQ(WhisperLanguageCode("German"), "de");
  EXPECT_EQ(WhisperLanguageCode("klingon"), "klingon");
  EXPECT_EQ(WhisperLanguageCode(""), "und");
}

TEST_F(OpenAiEngineTest, RateLimitAndServerErrorsAreRetried) {
  stubs::OpenAiStub stub;
  ASSERT_GT(stub.Start(), 0);
  stub.Script("transcriptions", {{429, 1}, {500}});
  OpenAiEngine engine(Config(stub, 100, ""));
  auto t = engine.Transcribe(dir_ / "a.wav");
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t->segments.size(), bursts_.size());
  EXPECT_EQ(stub.Requests().size(), 3u);

  stub.Script("transcriptions", {{503}, {503}, {503}});
  auto failed = engine.Transcribe(dir_ / "a.wav");
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.error().transient());
  EXPECT_EQ(failed.error().code, "asr_server_error");
}

TEST_F(OpenAiEngineTest, BadKeyFailsFast) {
  stubs::OpenAiStub stub({.api_key = "sk-right"});
  ASSERT_GT(stub.Start(), 0);
  OpenAiEngine engine(Config(stub, 10, "sk-wrong"));
  auto t = engine.Transcribe(dir_ / "a.wav");
  ASSERT_FALSE(t.ok());
  EXPECT_FALSE(t.error().transient());
  EXPECT_EQ(t.error().code, "asr_auth");
  EXPECT_EQ(stub.Requests().size(), 1u) << "no retry, no further chunks";
}

}  // namespace
}  // namespace chansum::asr
