#include "chansum/media/ffmpeg.hpp"
#include "chansum/media/ytdlp.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "test_media.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;
using testing::MakeTestVideo;
using testing::TempDir;

std::uint32_t Le(const std::string& b, std::size_t off, int n) {
  std::uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[off + i]);
  return v;
}

TEST(ExtractWav, WritesA16kHzMono16BitWav) {
  TempDir tmp;
  const auto video = tmp.path() / "in put's $(x).mp4";  // odd characters reach ffmpeg literally
  ASSERT_TRUE(MakeTestVideo(video, 2));
  const auto wav = tmp.path() / "vid" / "audio.wav";  // parent created on demand
  auto r = ExtractWav(video, wav, FfmpegOptions{});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->path, wav);
  EXPECT_EQ(r->bytes, fs::file_size(wav));
  EXPECT_NEAR(r->duration_s, 2.0, 0.1);
  EXPECT_EQ(r->sample_rate, 16000);
  EXPECT_EQ(r->channels, 1);
  EXPECT_EQ(r->bits_per_sample, 16);

  // Check the header bytes independently of ReadWavInfo.
  std::ifstream in(wav, std::ios::binary);
  std::string head(44, '\0');
  ASSERT_TRUE(in.read(head.data(), 44));
  EXPECT_EQ(head.substr(0, 4), "RIFF");
  EXPECT_EQ(head.substr(8, 4), "WAVE");
  EXPECT_EQ(head.substr(12, 4), "fmt ");
  EXPECT_EQ(Le(head, 20, 2), 1u);      // PCM
  EXPECT_EQ(Le(head, 22, 2), 1u);      // mono
  EXPECT_EQ(Le(head, 24, 4), 16000u);  // sample rate
  EXPECT_EQ(Le(head, 28, 4), 32000u);  // byte rate
  EXPECT_EQ(Le(head, 34, 2), 16u);     // bits per sample
  // ~2 s of 16 kHz 16-bit mono samples.
  EXPECT_NEAR(static_cast<double>(fs::file_size(wav)), 64000.0, 4000.0);

  // Only the final file is left: the temporary name was renamed.
  int files = 0;
  for (const auto& e : fs::directory_iterator(wav.parent_path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);

  // Running again overwrites atomically and gives the same result.
  auto again = ExtractWav(video, wav, FfmpegOptions{});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->bytes, r->bytes);
}

TEST(ExtractWav, MediaOverTheDurationLimitFailsPermanentlyWithoutOutput) {
  TempDir tmp;
  const auto video = tmp.path() / "long.mp4";
  ASSERT_TRUE(MakeTestVideo(video, 3));
  const auto wav = tmp.path() / "vid" / "audio.wav";
  FfmpegOptions options;
  options.max_media_seconds = 1;
  auto r = ExtractWav(video, wav, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
  EXPECT_EQ(r.error().code, "media_too_long") << r.error().ToString();
  EXPECT_NE(r.error().message.find("MAX_MEDIA_SECONDS=1"), std::string::npos);
  EXPECT_FALSE(fs::exists(wav));
  EXPECT_TRUE(fs::is_empty(wav.parent_path()));  // no temporary file left

  options.max_media_seconds = 4;
  auto fits = ExtractWav(video, wav, options);
  ASSERT_TRUE(fits.ok()) << fits.error().ToString();
  EXPECT_NEAR(fits->duration_s, 3.0, 0.1);
}

TEST(ExtractWav, GarbageInputIsPermanentWithFfmpegsMessage) {
  TempDir tmp;
  const auto garbage = tmp.path() / "garbage.mp4";
  std::ofstream(garbage) << "this is not a video at all, just some text\n";
  const auto wav = tmp.path() / "out" / "audio.wav";
  auto r = ExtractWav(garbage, wav, FfmpegOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
  EXPECT_EQ(r.error().code, "ffmpeg_failed");
  EXPECT_EQ(r.error().message.rfind("ffmpeg exited with code", 0), 0u) << r.error().message;
  EXPECT_NE(r.error().message.find("garbage.mp4"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(wav));
  int leftovers = 0;
  for (const auto& e : fs::directory_iterator(wav.parent_path())) {
    (void)e;
    ++leftovers;
  }
  EXPECT_EQ(leftovers, 0);
}

TEST(ExtractWav, VideoWithoutAudioAndMissingInputArePermanent) {
  TempDir tmp;
  const auto silent = tmp.path() / "silent.mp4";
  auto made = RunProcess({"ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                          "color=c=red:s=32x32:r=5:d=1", "-c:v", "mpeg4", silent.string()},
                         {});
  ASSERT_TRUE(made.ok() && made->Succeeded());
  auto r = ExtractWav(silent, tmp.path() / "a.wav", FfmpegOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);

  auto missing = ExtractWav(tmp.path() / "nope.mp4", tmp.path() / "b.wav", FfmpegOptions{});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "input_missing");
  EXPECT_EQ(missing.error().cls, ErrorClass::kPermanent);
}

TEST(ExtractWav, MissingBinaryIsPermanent) {
  TempDir tmp;
  const auto video = tmp.path() / "v.mp4";
  std::ofstream(video) << "x";
  FfmpegOptions opts;
  opts.binary = "chansum-no-ffmpeg-here";
  auto r = ExtractWav(video, tmp.path() / "a.wav", opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "chansum-no-ffmpeg-here: not found");
}

TEST(FfmpegOptions, FromEnv) {
  ConfigReader env(std::map<std::string, std::string>{
      {"FFMPEG_BIN", "/opt/ffmpeg"}, {"FFMPEG_TIMEOUT", "90s"}, {"KEEP_MEDIA", "true"}});
  const auto o = FfmpegOptions::FromEnv(env);
  EXPECT_TRUE(env.problems().empty());
  EXPECT_EQ(o.binary, "/opt/ffmpeg");
  EXPECT_EQ(o.timeout, std::chrono::seconds(90));
  EXPECT_TRUE(o.keep_media);
  ConfigReader bad(std::map<std::string, std::string>{{"FFMPEG_TIMEOUT", "soon"}});
  (void)FfmpegOptions::FromEnv(bad);
  EXPECT_EQ(bad.problems().size(), 1u);
}

// One MAX_MEDIA_SECONDS for the download (yt-dlp) and the audio extraction (ffmpeg).
TEST(FfmpegOptions, MaxMediaSecondsAsTheDownloadReadsIt) {
  ConfigReader env(std::map<std::string, std::string>{{"MAX_MEDIA_SECONDS", "600"}});
  EXPECT_EQ(FfmpegOptions::FromEnv(env).max_media_seconds, 600);
  EXPECT_EQ(YtDlpOptions::FromEnv(env).max_media_seconds, 600);
  EXPECT_TRUE(env.problems().empty());
  for (const std::string bad : {"-1", "604801"}) {  // below 0, over a week
    ConfigReader ffmpeg_env(std::map<std::string, std::string>{{"MAX_MEDIA_SECONDS", bad}});
    ConfigReader ytdlp_env(std::map<std::string, std::string>{{"MAX_MEDIA_SECONDS", bad}});
    (void)FfmpegOptions::FromEnv(ffmpeg_env);
    (void)YtDlpOptions::FromEnv(ytdlp_env);
    EXPECT_EQ(ffmpeg_env.problems().size(), 1u) << bad;
    EXPECT_EQ(ytdlp_env.problems().size(), 1u) << bad;
  }
}

}  // namespace
}  // namespace chansum::media
