#include "chansum/media/ffmpeg.hpp"

#include <fmt/format.h>
#include <array>
#include <fstream>
#include <system_error>

#include "chansum/media/process.hpp"
#include "media_limits.hpp"
#include "scratch_dir.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;

std::uint32_t Le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint16_t Le16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

Error InvalidWav(const fs::path& path, const std::string& why) {
  return Error::Permanent("invalid_wav", path.string() + " is not a usable WAV file: " + why);
}

}  // namespace

FfmpegOptions FfmpegOptions::FromEnv(ConfigReader& env) {
  FfmpegOptions o;
  o.binary = env.String("FFMPEG_BIN", o.binary);
  o.timeout = env.Duration("FFMPEG_TIMEOUT", o.timeout);
  o.keep_media = env.Bool("KEEP_MEDIA", o.keep_media);
  o.max_media_seconds = MaxMediaSecondsFromEnv(env, o.max_media_seconds);
  return o;
}

Result<WavInfo> ReadWavInfo(const fs::path& wav) {
  std::ifstream in(wav, std::ios::binary);
  if (!in) return Error::Permanent("invalid_wav", "cannot open " + wav.string());
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(wav, ec);
  if (ec) return Error::Permanent("invalid_wav", "cannot stat " + wav.string());

  unsigned char riff[12];
  if (!in.read(reinterpret_cast<char*>(riff), sizeof riff) ||
      std::string_view(reinterpret_cast<char*>(riff), 4) != "RIFF" ||
      std::string_view(reinterpret_cast<char*>(riff) + 8, 4) != "WAVE") {
    return InvalidWav(wav, "no RIFF/WAVE header");
  }
  WavInfo info;
  bool have_fmt = false;
  std::uint64_t pos = 12;
  while (pos + 8 <= file_size) {
    unsigned char header[8];
    in.seekg(static_cast<std::streamoff>(pos));
    if (!in.read(reinterpret_cast<char*>(header), sizeof header)) break;
    const std::string_view id(reinterpret_cast<char*>(header), 4);
    const std::uint64_t size = Le32(header + 4);
    const std::uint64_t body = pos + 8;
    if (id == "fmt ") {
      unsigned char fmt_chunk[16];
      if (size < 16 || !in.read(reinterpret_cast<char*>(fmt_chunk), sizeof fmt_chunk)) {
        return InvalidWav(wav, "short fmt chunk");
      }
      info.format_tag = Le16(fmt_chunk);
      info.channels = Le16(fmt_chunk + 2);
      info.sample_rate = static_cast<int>(Le32(fmt_chunk + 4));
      info.bits_per_sample = Le16(fmt_chunk + 14);
      have_fmt = true;
    } else if (id == "data") {
      if (!have_fmt) return InvalidWav(wav, "data chunk before fmt chunk");
      // A writer that could not seek back leaves 0 or 0xFFFFFFFF; trust the file size then.
      const std::uint64_t available = file_size - body;
      info.data_bytes = (size == 0 || size > available) ? available : size;
      const int frame = info.channels * (info.bits_per_sample / 8);
      if (info.sample_rate <= 0 || frame <= 0) return InvalidWav(wav, "bad fmt chunk");
      info.duration_s =
          static_cast<double>(info.data_bytes) / (static_cast<double>(info.sample_rate) * frame);
      return info;
    }
    pos = body + size + (size & 1);  // chunks are padded to even sizes
  }
  return InvalidWav(wav, "no data chunk");
}

Result<AudioResult> ExtractWav(const fs::path& input, const fs::path& output_wav,
                               const FfmpegOptions& options) {
  std::error_code ec;
  const fs::path in_path = fs::absolute(input, ec);
  if (ec || !fs::is_regular_file(in_path, ec)) {
    return Error::Permanent("input_missing", "media file " + input.string() + " does not exist");
  }
  const fs::path out_path = fs::absolute(output_wav, ec);
  if (ec || out_path.filename().empty()) {
    return Error::Permanent("invalid_argument", "bad output path " + output_wav.string());
  }
  fs::create_directories(out_path.parent_path(), ec);
  if (ec) {
    return Error::Transient(
        "io_error", "cannot create " + out_path.parent_path().string() + ": " + ec.message());
  }
  const fs::path tmp =
      out_path.parent_path() / ("." + out_path.filename().string() + ".tmp-" + RandomSuffix());
  struct Cleanup {
    fs::path path;
    bool armed = true;
    ~Cleanup() {
      if (!armed) return;
      std::error_code ignored;
      fs::remove(path, ignored);
    }
  } cleanup{tmp};

  // "file:" keeps ffmpeg from reading a path as another protocol ("concat:", "http:", "-").
  std::vector<std::string> argv = {options.binary,
                                   "-nostdin",
                                   "-hide_banner",
                                   "-loglevel",
                                   "error",
                                   "-y",
                                   "-i",
                                   "file:" + in_path.string(),
                                   "-map",
                                   "0:a:0",
                                   "-vn",
                                   "-sn",
                                   "-dn",
                                   "-ac",
                                   "1",
                                   "-ar",
                                   "16000",
                                   "-c:a",
                                   "pcm_s16le",
                                   "-f",
                                   "wav",
                                   "file:" + tmp.string()};
  if (options.max_media_seconds > 0) {
    // Output option: stop a second past the limit (enough to tell "longer than" apart).
    argv.insert(argv.end() - 1, {"-t", std::to_string(options.max_media_seconds + 1)});
  }
  ProcessOptions popts;
  popts.timeout = options.timeout;
  popts.kill_grace = options.kill_grace;
  popts.should_stop = options.should_stop;
  popts.max_stdout_bytes = 1 << 20;
  auto run = RunProcess(argv, popts);
  if (!run.ok()) return std::move(run).error();
  if (!run->Succeeded()) {
    const std::string message = DescribeFailure(*run, options.binary);
    if (run->timed_out) return Error::Transient("timeout", message);
    if (run->canceled) return Error::Transient("canceled", message);
    if (run->term_signal != 0) return Error::Transient("killed", message);
    return Error::Permanent("ffmpeg_failed", message);
  }
  auto wav = ReadWavInfo(tmp);
  if (!wav.ok()) return std::move(wav).error();
  if (wav->format_tag != 1 || wav->channels != 1 || wav->sample_rate != 16000 ||
      wav->bits_per_sample != 16) {
    return InvalidWav(
        tmp, fmt::format("expected 16 kHz mono 16-bit PCM, got format {} {} Hz {} "
                         "channel(s) {}-bit",
                         wav->format_tag, wav->sample_rate, wav->channels, wav->bits_per_sample));
  }
  if (wav->data_bytes == 0) {
    return Error::Permanent("no_audio", input.string() + " has an empty audio stream");
  }
  if (options.max_media_seconds > 0 &&
      wav->duration_s > static_cast<double>(options.max_media_seconds)) {
    return Error::Permanent(
        "media_too_long",
        fmt::format("media is longer than MAX_MEDIA_SECONDS={} s", options.max_media_seconds));
  }
  const auto bytes = fs::file_size(tmp, ec);
  if (ec) return Error::Transient("io_error", "cannot stat " + tmp.string() + ": " + ec.message());
  fs::rename(tmp, out_path, ec);
  if (ec) {
    return Error::Transient("io_error", "cannot rename " + tmp.string() + " to " +
                                            out_path.string() + ": " + ec.message());
  }
  cleanup.armed = false;
  AudioResult result;
  result.path = out_path;
  result.duration_s = wav->duration_s;
  result.bytes = bytes;
  result.sample_rate = wav->sample_rate;
  result.channels = wav->channels;
  result.bits_per_sample = wav->bits_per_sample;
  return result;
}

}  // namespace chansum::media
