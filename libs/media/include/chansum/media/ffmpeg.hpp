#pragma once
// ffmpeg: a media file's first audio stream to a 16 kHz mono 16-bit PCM WAV (what the ASR reads).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"

namespace chansum::media {

// Environment:
//   FFMPEG_BIN      program (default "ffmpeg", looked up on PATH)
//   FFMPEG_TIMEOUT  limit for one extraction (default 10m)
//   KEEP_MEDIA      keep the downloaded media after extraction (default false; read by the
//                   audio_extraction stage)
//   MAX_MEDIA_SECONDS  longest media accepted, in seconds (default 14400 = 4 h; 0 = no limit)
struct FfmpegOptions {
  std::string binary = "ffmpeg";
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds kill_grace{std::chrono::seconds(3)};
  bool keep_media = false;
  // Media longer than this is refused (permanent "media_too_long"); ffmpeg stops converting a
  // second past it, so an over-long file costs bounded work. 0 = no limit.
  std::int64_t max_media_seconds = 4 * 3600;
  // Checked while ffmpeg runs; true stops it (transient "canceled").
  std::function<bool()> should_stop;

  [[nodiscard]] static FfmpegOptions FromEnv(ConfigReader& env);
};

struct AudioResult {
  std::filesystem::path path;
  double duration_s = 0;    // from the WAV header's data size
  std::uint64_t bytes = 0;  // size of the WAV file
  int sample_rate = 0;
  int channels = 0;
  int bits_per_sample = 0;
};

// Runs `ffmpeg -nostdin -hide_banner -loglevel error -y -i file:<input> -map 0:a:0 -vn -ac 1
// -ar 16000 -c:a pcm_s16le -f wav file:<tmp>` and renames the temporary file (same directory) to
// output_wav, so output_wav is either absent or complete. Parent directories are created.
// With a max_media_seconds limit, ffmpeg writes at most one second past it and media longer than
// the limit is a permanent "media_too_long" (no output file).
// Errors: permanent "input_missing"; permanent "ffmpeg_failed" with ffmpeg's stderr tail (corrupt
// input, no audio stream); permanent "invalid_wav"; transient "timeout", "canceled", "io_error".
[[nodiscard]] Result<AudioResult> ExtractWav(const std::filesystem::path& input,
                                             const std::filesystem::path& output_wav,
                                             const FfmpegOptions& options);

struct WavInfo {
  int format_tag = 0;  // 1 = PCM
  int channels = 0;
  int sample_rate = 0;
  int bits_per_sample = 0;
  std::uint64_t data_bytes = 0;
  double duration_s = 0;
};

// Reads a RIFF/WAVE header (fmt and data chunks). Permanent "invalid_wav" when it is not one.
[[nodiscard]] Result<WavInfo> ReadWavInfo(const std::filesystem::path& wav);

}  // namespace chansum::media
