// The audio_extraction handler reads (and deletes) only media inside MEDIA_DIR: a crafted command
// naming another file fails permanently and leaves that file alone.
#include "src/audio_extraction.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "chansum/media/process.hpp"
#include "chansum/protocol/command.hpp"

namespace chansum::audio_extraction {
namespace {

namespace fs = std::filesystem;

class AudioExtractionHandler : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("chansum-ae-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(std::random_device{}()));
    media_dir_ = root_ / "media";
    fs::create_directories(media_dir_);
    fs::create_directories(root_ / "outside");
    ConfigReader env(std::map<std::string, std::string>{});
    auto def = Definition();
    handler_ = def.configure(env, def)();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static bool MakeWav(const fs::path& out) {
    auto r = media::RunProcess({"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                                "-f", "lavfi", "-i", "sine=frequency=440:duration=1", out.string()},
                               {});
    return r.ok() && r->Succeeded() && fs::exists(out);
  }
  Result<stage::StageOutput> Run(const std::string& media_path) {
    auto cmd = protocol::NewCommand(protocol::Stage::kAudioExtraction,
                                    "0d9c3a52-6a3e-4f4f-8f0e-2b7d6c5a4e31", "vid", "trace",
                                    {{"media_path", media_path}});
    stage::StageContext ctx{claim_, media_dir_, nullptr, [] { return false; },
                            [] { return false; }};
    return handler_(cmd, ctx);
  }

  fs::path root_;
  fs::path media_dir_;
  store::Claim claim_;
  stage::Handler handler_;
};

TEST_F(AudioExtractionHandler, MediaOutsideMediaDirIsNeverReadNorDeleted) {
  const auto secret = root_ / "outside" / "secret.wav";
  ASSERT_TRUE(MakeWav(secret));
  const std::vector<std::string> crafted = {
      (media_dir_ / "vid" / ".." / ".." / "outside" / "secret.wav").string(),
      secret.string(),
      "../outside/secret.wav",
      media_dir_.string(),
  };
  for (const auto& path : crafted) {
    auto r = Run(path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_FALSE(r.error().transient()) << path;
    EXPECT_EQ(r.error().code, "path_outside_media_dir") << path << ": " << r.error().message;
    EXPECT_TRUE(fs::exists(secret)) << path << " deleted a file outside MEDIA_DIR";
    EXPECT_FALSE(fs::exists(media_dir_ / "vid" / "audio.wav")) << path << " was read";
  }
  // A symlink inside MEDIA_DIR that leads out is refused too.
  fs::create_directories(media_dir_ / "vid");
  fs::create_symlink(secret, media_dir_ / "vid" / "media.wav");
  auto linked = Run((media_dir_ / "vid" / "media.wav").string());
  ASSERT_FALSE(linked.ok());
  EXPECT_EQ(linked.error().code, "path_outside_media_dir");
  EXPECT_TRUE(fs::exists(secret));
  EXPECT_FALSE(fs::exists(media_dir_ / "vid" / "audio.wav"));
}

TEST_F(AudioExtractionHandler, MediaInsideMediaDirIsExtractedAndRemoved) {
  fs::create_directories(media_dir_ / "vid");
  const auto media = media_dir_ / "vid" / "media.wav";
  ASSERT_TRUE(MakeWav(media));
  auto r = Run(media.string());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(fs::exists(media_dir_ / "vid" / "audio.wav"));
  EXPECT_FALSE(fs::exists(media));  // KEEP_MEDIA=false: the input is deleted after extraction
}

}  // namespace
}  // namespace chansum::audio_extraction
