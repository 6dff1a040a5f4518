#pragma once
// Test helpers: a temporary directory and a generated short video (ffmpeg lavfi sine + color).
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "chansum/media/process.hpp"

namespace chansum::media::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("chansum-media-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes an MP4 with `seconds` of a 440 Hz tone (44.1 kHz stereo AAC) over a blue picture.
inline bool MakeTestVideo(const std::filesystem::path& out, int seconds = 2) {
  const std::string d = std::to_string(seconds);
  auto r = RunProcess({"ffmpeg",
                       "-nostdin",
                       "-hide_banner",
                       "-loglevel",
                       "error",
                       "-y",
                       "-f",
                       "lavfi",
                       "-i",
                       "sine=frequency=440:sample_rate=44100:duration=" + d,
                       "-f",
                       "lavfi",
                       "-i",
                       "color=c=blue:s=64x48:r=10:d=" + d,
                       "-shortest",
                       "-ac",
                       "2",
                       "-c:v",
                       "mpeg4",
                       "-c:a",
                       "aac",
                       out.string()},
                      {});
  return r.ok() && r->Succeeded() && std::filesystem::file_size(out) > 0;
}

}  // namespace chansum::media::testing
