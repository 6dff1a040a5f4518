// A stored transcript is reused only when the engine configured now made it: a redelivered
// command spends no second decode, while a transcript of another engine (pocketsphinx's before
// Whisper was installed, captions when the job asks for ASR) is transcribed again. Real document
// store (MONGO_URI, a database of its own) and the real pocketsphinx engine.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "chansum/asr/transcript.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/protocol/command.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/testing/support.hpp"
#include "src/transcription.hpp"

namespace chansum::transcription {
namespace {

namespace fs = std::filesystem;

TEST(TranscriptionReuse, OnlyATranscriptOfTheConfiguredEngineIsReused) {
  docstore::DocstoreConfig doc_config;
  doc_config.uri = testing::UrlWithDatabase(testing::RequireEnv("MONGO_URI"),
                                            "transcription_reuse_" + testing::RandomSuffix());
  auto docs = docstore::DocStore::Open(doc_config);
  ASSERT_TRUE(docs.ok()) << docs.error().ToString();

  const fs::path media_dir = testing::MakeTempDir("chansum-tr-reuse");
  const fs::path wav = media_dir / "audio.wav";
  const auto write_wav = [&] {  // one second of silence, as audio extraction writes it
    ASSERT_EQ(testing::RunCommand({"ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                                   "anullsrc=r=16000:cl=mono", "-t", "1", "-c:a", "pcm_s16le",
                                   wav.string()}),
              0);
  };

  ConfigReader env(std::map<std::string, std::string>{{"ASR_ENGINE", "pocketsphinx"}});
  auto def = Definition();
  auto handler = def.configure(env, def)();
  ASSERT_NO_THROW(env.Finish());
  store::Claim claim;
  const auto run = [&] {
    auto cmd = protocol::NewCommand(protocol::Stage::kTranscription,
                                    "0d9c3a52-6a3e-4f4f-8f0e-2b7d6c5a4e31", "vid", "trace",
                                    {{"audio_path", wav.string()}});
    stage::StageContext ctx{claim, media_dir, docs->get(), [] { return false; },
                            [] { return false; }};
    return handler(cmd, ctx);
  };
  const auto stored = [&]() -> asr::Transcript {
    auto doc = (*docs)->Get(protocol::kTranscriptsCollection, "vid");
    EXPECT_TRUE(doc.ok() && doc->has_value());
    auto t = asr::TranscriptFromJson(**doc);
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : asr::Transcript{};
  };
  const auto store = [&](const std::string& engine, const std::string& text) {
    asr::Transcript t;
    t.engine = engine;
    t.text = text;
    t.segments = {{0.0, 1.0, text}};
    t.audio_seconds = 1.0;
    ASSERT_TRUE((*docs)->Upsert(protocol::kTranscriptsCollection, "vid", asr::ToJson(t)).ok());
  };

  const auto has_summary = [&] {
    auto doc = (*docs)->Get(protocol::kSummariesCollection, "vid");
    EXPECT_TRUE(doc.ok());
    return doc.ok() && doc->has_value();
  };
  const auto store_summary = [&] {
    ASSERT_TRUE((*docs)
                    ->Upsert(protocol::kSummariesCollection, "vid",
                             {{"summary", "Of what whisper heard."}, {"key_points", {"whisper"}}})
                    .ok());
  };

  // Whisper's transcript, while pocketsphinx is configured: decoded again and replaced, and the
  // summary of the old words is gone (summarization makes it anew).
  store("whisper/tiny.en", "heard by whisper");
  store_summary();
  write_wav();
  auto again = run();
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->event_data.at("reused"), false);
  EXPECT_EQ(again->event_data.at("engine"), "pocketsphinx");
  EXPECT_EQ(stored().engine, "pocketsphinx");
  EXPECT_NE(stored().text, "heard by whisper");
  EXPECT_FALSE(fs::exists(wav)) << "the WAV is removed once transcribed";
  EXPECT_FALSE(has_summary()) << "the summary of a replaced transcript stays";

  // pocketsphinx's own transcript: reused, with no WAV left to read (a redelivery).
  store("pocketsphinx", "heard by pocketsphinx before");
  store_summary();
  auto reused = run();
  ASSERT_TRUE(reused.ok()) << reused.error().ToString();
  EXPECT_EQ(reused->event_data.at("reused"), true);
  EXPECT_EQ(stored().text, "heard by pocketsphinx before");
  EXPECT_TRUE(has_summary()) << "a reused transcript keeps its summary";

  // Captions stored by an earlier job that took them: this job asked for ASR.
  store("captions:manual", "the captions");
  write_wav();
  auto asr = run();
  ASSERT_TRUE(asr.ok()) << asr.error().ToString();
  EXPECT_EQ(asr->event_data.at("reused"), false);
  EXPECT_EQ(stored().engine, "pocketsphinx");

  EXPECT_TRUE((*docs)->Drop(protocol::kTranscriptsCollection).ok());
  EXPECT_TRUE((*docs)->Drop(protocol::kSummariesCollection).ok());
  std::error_code ec;
  fs::remove_all(media_dir, ec);
}

}  // namespace
}  // namespace chansum::transcription
