#include "chansum/instant/instant.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "chansum/media/channel.hpp"

namespace chansum::instant {
namespace {

namespace fs = std::filesystem;

TEST(InstantChannel, ParsesCountAndFailMarker) {
  auto c = ParseInstantChannel("http://instant.invalid/videos/60?fail=7");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->videos, 60);
  EXPECT_EQ(c->fail_every, 7);
  EXPECT_EQ(InstantChannelUrl(60, 7), "http://instant.invalid/videos/60?fail=7");
  auto plain = ParseInstantChannel(InstantChannelUrl(3));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->videos, 3);
  EXPECT_EQ(plain->fail_every, 0);
  for (const char* bad :
       {"http://instant.invalid/videos/", "http://instant.invalid/videos/0",
        "http://instant.invalid/videos/x", "http://instant.invalid/videos/5?f=1",
        "https://www.youtube.com/@x/videos", "http://instant.invalid/videos/-3"}) {
    EXPECT_FALSE(ParseInstantChannel(bad).ok()) << bad;
  }
}

TEST(InstantChannel, TheOrchestratorAcceptsTheSyntheticUrl) {
  auto ref = media::NormalizeChannel(InstantChannelUrl(50, 9));
  ASSERT_TRUE(ref.ok()) << ref.error().ToString();
  EXPECT_EQ(ref->url, InstantChannelUrl(50, 9));
}

class InstantHandlers : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("chansum-instant-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<stage::StageOutput> Run(protocol::Stage s, const protocol::Command& cmd) {
    stage::StageContext ctx{claim_, dir_, nullptr, [] { return false; }, [] { return false; }};
    auto def = Definition(s);
    auto factory = def.configure(env_, def);
    return factory()(cmd, ctx);
  }

  fs::path dir_;
  store::Claim claim_;
  ConfigReader env_;
};

TEST_F(InstantHandlers, DiscoveryMakesPerJobVideosAndMarksEveryKthToFail) {
  auto cmd = protocol::NewCommand(protocol::Stage::kDiscovery, "0123456789abcdef", "", "t",
                                  {{"channel_url", InstantChannelUrl(10, 4)}, {"max_videos", 8}});
  auto out = Run(protocol::Stage::kDiscovery, cmd);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  ASSERT_EQ(out->discovered.size(), 8u) << "max_videos caps the channel";
  EXPECT_EQ(out->discovered[0].video_id, "i01234567-1");
  EXPECT_EQ(out->discovered[3].url.find("?fail=1") != std::string::npos, true);
  EXPECT_EQ(out->discovered[2].url.find("?fail=1"), std::string::npos);

  auto bad =
      Run(protocol::Stage::kDiscovery,
          protocol::NewCommand(protocol::Stage::kDiscovery, "j", "", "t",
                               {{"channel_url", "http://example.com/x"}, {"max_videos", 3}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(bad.error().transient());
}

TEST_F(InstantHandlers, DownloadAndAudioWriteTinyFilesAndTheMarkedVideoFailsPermanently) {
  auto dl = Run(protocol::Stage::kDownload,
                protocol::NewCommand(protocol::Stage::kDownload, "j", "v1", "t",
                                     {{"url", "http://instant.invalid/v/v1"}}));
  ASSERT_TRUE(dl.ok()) << dl.error().ToString();
  EXPECT_TRUE(fs::exists(dl->media_path));
  auto audio = Run(protocol::Stage::kAudioExtraction,
                   protocol::NewCommand(protocol::Stage::kAudioExtraction, "j", "v1", "t",
                                        {{"media_path", dl->media_path}}));
  ASSERT_TRUE(audio.ok()) << audio.error().ToString();
  EXPECT_TRUE(fs::exists(audio->audio_path));
  EXPECT_FALSE(fs::exists(dl->media_path)) << "the media file is consumed like the real stage";
  // A redelivery finds the WAV and succeeds again.
  auto again = Run(protocol::Stage::kAudioExtraction,
                   protocol::NewCommand(protocol::Stage::kAudioExtraction, "j", "v1", "t",
                                        {{"media_path", dl->media_path}}));
  ASSERT_TRUE(again.ok());

  auto gone = Run(protocol::Stage::kDownload,
                  protocol::NewCommand(protocol::Stage::kDownload, "j", "v2", "t",
                                       {{"url", "http://instant.invalid/v/v2?fail=1"}}));
  ASSERT_FALSE(gone.ok());
  EXPECT_FALSE(gone.error().transient());
  EXPECT_EQ(gone.error().code, "instant_unavailable");
}

}  // namespace
}  // namespace chansum::instant
