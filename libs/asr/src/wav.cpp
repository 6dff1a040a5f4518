#include "chansum/asr/wav.hpp"

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace chansum::asr {
namespace {

std::uint32_t Le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint16_t Le16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

Error BadAudio(const std::filesystem::path& path, const std::string& why) {
  return Error::Permanent("bad_audio", path.string() + ": " + why);
}

std::string Describe(const WavInfo& info) {
  std::string out = std::to_string(info.sample_rate) + " Hz ";
  switch (info.channels) {
    case 1:
      out += "mono";
      break;
    case 2:
      out += "stereo";
      break;
    default:
      out += std::to_string(info.channels) + " channels";
  }
  out += " " + std::to_string(info.bits_per_sample) + "-bit";
  if (info.format != 1) out += " (format " + std::to_string(info.format) + ", not PCM)";
  return out;
}

}  // namespace

Result<WavInfo> ReadWavInfo(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Error::Permanent("audio_missing", path.string() + ": no such file");
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    return BadAudio(path, "not a regular file");
  }
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) return Error::Transient("io_error", path.string() + ": " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error::Transient("io_error", path.string() + ": cannot open: " + std::strerror(errno));
  }

  std::array<unsigned char, 12> riff{};
  if (!in.read(reinterpret_cast<char*>(riff.data()), riff.size()) ||
      std::memcmp(riff.data(), "RIFF", 4) != 0 || std::memcmp(riff.data() + 8, "WAVE", 4) != 0) {
    return BadAudio(path, "not a WAV file (no RIFF/WAVE header)");
  }

  WavInfo info;
  bool have_fmt = false;
  std::uint64_t pos = 12;
  while (true) {
    std::array<unsigned char, 8> hdr{};
    if (!in.read(reinterpret_cast<char*>(hdr.data()), hdr.size())) {
      return BadAudio(path, have_fmt ? "no \"data\" chunk" : "no \"fmt \" chunk");
    }
    pos += 8;
    const std::uint32_t size = Le32(hdr.data() + 4);
    if (std::memcmp(hdr.data(), "fmt ", 4) == 0) {
      if (size < 16) return BadAudio(path, "\"fmt \" chunk too short");
      std::array<unsigned char, 16> fmt{};
      if (!in.read(reinterpret_cast<char*>(fmt.data()), fmt.size())) {
        return BadAudio(path, "truncated \"fmt \" chunk");
      }
      info.format = Le16(fmt.data());
      info.channels = Le16(fmt.data() + 2);
      info.sample_rate = static_cast<int>(Le32(fmt.data() + 4));
      info.bits_per_sample = Le16(fmt.data() + 14);
      if (info.format == 0xFFFE && size >= 40) {  // WAVE_FORMAT_EXTENSIBLE: subformat GUID
        std::array<unsigned char, 24> ext{};
        if (!in.read(reinterpret_cast<char*>(ext.data()), ext.size())) {
          return BadAudio(path, "truncated \"fmt \" chunk");
        }
        info.format = Le16(ext.data() + 8);
      }
      have_fmt = true;
    } else if (std::memcmp(hdr.data(), "data", 4) == 0) {
      if (!have_fmt) return BadAudio(path, "\"data\" chunk before \"fmt \" chunk");
      info.data_offset = pos;
      // ffmpeg writing to a pipe leaves the size as 0 or 0xFFFFFFFF: take what the file holds.
      const std::uint64_t available = file_size > pos ? file_size - pos : 0;
      info.data_bytes = (size == 0 || size == 0xFFFFFFFFu || size > available) ? available : size;
      break;
    }
    pos += size + (size & 1u);  // chunks are padded to even sizes
    in.seekg(static_cast<std::streamoff>(pos));
    if (!in) return BadAudio(path, "truncated chunk");
  }

  if (info.format != 1 || info.bits_per_sample != 16 || info.channels != 1 ||
      info.sample_rate != kAsrSampleRate) {
    return BadAudio(path, "expected 16 kHz mono 16-bit PCM WAV, got " + Describe(info));
  }
  return info;
}

Result<WavAudio> ReadWav(const std::filesystem::path& path) {
  auto info = ReadWavInfo(path);
  if (!info.ok()) return info.error();
  WavAudio audio;
  audio.info = *info;
  audio.samples.resize(info->frames());
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(info->data_offset));
  const auto bytes = static_cast<std::streamsize>(audio.samples.size() * sizeof(std::int16_t));
  if (!in.read(reinterpret_cast<char*>(audio.samples.data()), bytes)) {
    return Error::Transient("io_error", path.string() + ": short read of audio data");
  }
  // WAV samples are little-endian, as is every host this builds on (x86-64, arm64).
  static_assert(std::endian::native == std::endian::little);
  return audio;
}

}  // namespace chansum::asr
