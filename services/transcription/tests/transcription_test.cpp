// The transcription handler reads (and, without KEEP_MEDIA, deletes) only a WAV inside MEDIA_DIR:
// a crafted command naming another file fails permanently before anything touches that file.
#include "src/transcription.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "chansum/protocol/command.hpp"

namespace chansum::transcription {
namespace {

namespace fs = std::filesystem;

TEST(TranscriptionHandler, AudioOutsideMediaDirIsNeverReadNorDeleted) {
  const fs::path root = fs::temp_directory_path() / ("chansum-tr-" + std::to_string(::getpid()) +
                                                     "-" + std::to_string(std::random_device{}()));
  const fs::path media_dir = root / "media";
  fs::create_directories(media_dir / "vid");
  fs::create_directories(root / "outside");
  const fs::path secret = root / "outside" / "secret.wav";
  std::ofstream(secret) << "not yours";
  fs::create_symlink(secret, media_dir / "vid" / "audio.wav");

  // The HTTP backend needs no model; the confinement check comes before any request is made, and
  // before the document store is looked at (none here: a check after it would crash the test).
  ConfigReader env(std::map<std::string, std::string>{
      {"ASR_ENGINE", "openai"}, {"ASR_API_URL", "http://127.0.0.1:9/v1"}, {"KEEP_MEDIA", "false"}});
  auto def = Definition();
  auto handler = def.configure(env, def)();
  ASSERT_NO_THROW(env.Finish());
  store::Claim claim;
  for (const auto& path : {(media_dir / "vid" / ".." / ".." / "outside" / "secret.wav").string(),
                           secret.string(), std::string("../outside/secret.wav"),
                           (media_dir / "vid" / "audio.wav").string() /* symlink leading out */}) {
    auto cmd = protocol::NewCommand(protocol::Stage::kTranscription,
                                    "0d9c3a52-6a3e-4f4f-8f0e-2b7d6c5a4e31", "vid", "trace",
                                    {{"audio_path", path}});
    stage::StageContext ctx{claim, media_dir, nullptr, [] { return false; }, [] { return false; }};
    auto r = handler(cmd, ctx);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_FALSE(r.error().transient()) << path;
    EXPECT_EQ(r.error().code, "path_outside_media_dir") << path << ": " << r.error().message;
    EXPECT_TRUE(fs::exists(secret)) << path << " deleted a file outside MEDIA_DIR";
  }
  std::error_code ec;
  fs::remove_all(root, ec);
}

TEST(AsrLanguage, TheJobsFirstCaptionLanguageMustBeOneTheEngineCanDo) {
  asr::AsrConfig sphinx;  // pocketsphinx: English only
  EXPECT_FALSE(CheckAsrLanguage(sphinx, nlohmann::json::object()));
  EXPECT_FALSE(CheckAsrLanguage(sphinx, {{"caption_languages", {"en", "de"}}}));
  EXPECT_FALSE(CheckAsrLanguage(sphinx, {{"caption_languages", {"en-GB"}}}));
  const auto de = CheckAsrLanguage(sphinx, {{"caption_languages", {"de", "en"}}});
  ASSERT_TRUE(de);
  EXPECT_EQ(de->code, "asr_language_unsupported");
  EXPECT_FALSE(de->transient());
  EXPECT_NE(de->message.find("de"), std::string::npos) << de->message;
  EXPECT_NE(de->message.find("pocketsphinx"), std::string::npos) << de->message;

  asr::AsrConfig tiny_en;  // Whisper tiny.en: English only too
  tiny_en.engine = "whisper";
  EXPECT_FALSE(CheckAsrLanguage(tiny_en, {{"caption_languages", {"en-US"}}}));
  const auto fr = CheckAsrLanguage(tiny_en, {{"caption_languages", {"fr"}}});
  ASSERT_TRUE(fr);
  EXPECT_NE(fr->message.find("embedded ASR (whisper)"), std::string::npos) << fr->message;

  asr::AsrConfig api;
  api.engine = "openai";
  api.language = "";  // the endpoint detects the language
  EXPECT_FALSE(CheckAsrLanguage(api, {{"caption_languages", {"de"}}}));
  api.language = "de";
  EXPECT_FALSE(CheckAsrLanguage(api, {{"caption_languages", {"de-AT"}}}));
  api.language = "en";
  const auto fixed = CheckAsrLanguage(api, {{"caption_languages", {"fr"}}});
  ASSERT_TRUE(fixed);
  EXPECT_NE(fixed->message.find("ASR_LANGUAGE=en"), std::string::npos) << fixed->message;
}

}  // namespace
}  // namespace chansum::transcription
