#include "chansum/asr/wav.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_audio.hpp"

namespace chansum::asr {
namespace {

using testing::TempDir;
using testing::WriteWav;

TEST(WavTest, ReadsMonoPcmWithExtraChunkBeforeData) {
  TempDir dir;
  const std::vector<std::int16_t> samples = {0, 1, -1, 32767, -32768, 1234};
  WriteWav(dir / "a.wav", 16000, 1, 16, samples, /*extra_chunk=*/true);
  auto audio = ReadWav(dir / "a.wav");
  ASSERT_TRUE(audio.ok()) << audio.error().ToString();
  EXPECT_EQ(audio->samples, samples);
  EXPECT_EQ(audio->info.frames(), samples.size());
  EXPECT_DOUBLE_EQ(audio->seconds(), 6.0 / 16000);
}

TEST(WavTest, RejectsStereo44kWithClearMessage) {
  TempDir dir;
  WriteWav(dir / "b.wav", 44100, 2, 16, std::vector<std::int16_t>(100, 0));
  auto audio = ReadWav(dir / "b.wav");
  ASSERT_FALSE(audio.ok());
  EXPECT_EQ(audio.error().code, "bad_audio");
  EXPECT_FALSE(audio.error().transient());
  EXPECT_NE(audio.error().message.find("expected 16 kHz mono 16-bit PCM WAV, got 44100 Hz stereo"),
            std::string::npos)
      << audio.error().message;
}

TEST(WavTest, RejectsFfmpegStereo44k) {
  TempDir dir;
  const auto path = dir / "tone.wav";
  ASSERT_EQ(testing::Run({"ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                          "sine=frequency=440:sample_rate=44100:duration=0.5", "-ac", "2", "-c:a",
                          "pcm_s16le", path.string()}),
            0);
  auto audio = ReadWavInfo(path);
  ASSERT_FALSE(audio.ok());
  EXPECT_NE(audio.error().message.find("got 44100 Hz stereo 16-bit"), std::string::npos)
      << audio.error().message;
}

TEST(WavTest, RejectsEightBitAndWrongRate) {
  TempDir dir;
  WriteWav(dir / "c.wav", 16000, 1, 8, {});
  auto eight = ReadWav(dir / "c.wav");
  ASSERT_FALSE(eight.ok());
  EXPECT_NE(eight.error().message.find("got 16000 Hz mono 8-bit"), std::string::npos);
  WriteWav(dir / "d.wav", 8000, 1, 16, {});
  auto rate = ReadWav(dir / "d.wav");
  ASSERT_FALSE(rate.ok());
  EXPECT_NE(rate.error().message.find("got 8000 Hz mono 16-bit"), std::string::npos);
}

TEST(WavTest, RejectsNonWavAndTruncatedFiles) {
  TempDir dir;
  std::ofstream(dir / "notes.txt") << "this is not audio at all";
  auto text = ReadWav(dir / "notes.txt");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, "bad_audio");
  EXPECT_NE(text.error().message.find("not a WAV file"), std::string::npos) << text.error().message;

  std::ofstream(dir / "short.wav", std::ios::binary) << std::string("RIFF\x10\0\0\0WAVEfmt ", 16);
  auto truncated = ReadWav(dir / "short.wav");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().code, "bad_audio");
}

TEST(WavTest, MissingFileIsPermanent) {
  TempDir dir;
  auto missing = ReadWav(dir / "nope.wav");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "audio_missing");
  EXPECT_FALSE(missing.error().transient());
}

}  // namespace
}  // namespace chansum::asr
