#pragma once
// Test helpers: temporary directories, synthetic WAV files and speech generated with flite.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

namespace chansum::asr::testing {

// Runs argv (no shell) with stdout/stderr inherited; returns the exit status or -1.
inline int Run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("chansum_asr_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

inline void PutLe(std::string& out, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Writes a PCM WAV by hand; `extra_chunk` (e.g. a LIST chunk) goes between fmt and data.
inline void WriteWav(const std::filesystem::path& path, int rate, int channels, int bits,
                     const std::vector<std::int16_t>& samples, bool extra_chunk = false) {
  std::string body = "WAVE";
  body += "fmt ";
  PutLe(body, 16, 4);
  PutLe(body, 1, 2);
  PutLe(body, static_cast<std::uint32_t>(channels), 2);
  PutLe(body, static_cast<std::uint32_t>(rate), 4);
  PutLe(body, static_cast<std::uint32_t>(rate * channels * bits / 8), 4);
  PutLe(body, static_cast<std::uint32_t>(channels * bits / 8), 2);
  PutLe(body, static_cast<std::uint32_t>(bits), 2);
  if (extra_chunk) {
    const std::string info = "INFOISFT\x05\x00\x00\x00test\x00";  // odd size: padded
    body += "LIST";
    PutLe(body, static_cast<std::uint32_t>(info.size()), 4);
    body += info;
    if (info.size() % 2 == 1) body.push_back('\0');
  }
  body += "data";
  PutLe(body, static_cast<std::uint32_t>(samples.size() * 2), 4);
  for (auto s : samples) PutLe(body, static_cast<std::uint16_t>(s), 2);
  std::ofstream out(path, std::ios::binary);
  out << "RIFF";
  std::string size;
  PutLe(size, static_cast<std::uint32_t>(body.size()), 4);
  out << size << body;
}

// Speaks `text` with flite's slt voice and converts it to 16 kHz mono 16-bit PCM with ffmpeg.
// Returns false if either tool fails.
inline bool Speak(const std::string& text, const std::filesystem::path& out_wav) {
  const auto raw = out_wav.string() + ".flite.wav";
  if (Run({"flite", "-voice", "slt", "-t", text, "-o", raw}) != 0) return false;
  const int rc = Run({"ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", raw, "-ar", "16000",
                      "-ac", "1", "-c:a", "pcm_s16le", out_wav.string()});
  std::filesystem::remove(raw);
  return rc == 0;
}

}  // namespace chansum::asr::testing
