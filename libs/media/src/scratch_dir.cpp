#include "scratch_dir.hpp"

#include <fmt/format.h>
#include <random>
#include <system_error>

namespace chansum::media {

namespace fs = std::filesystem;

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:012x}", rng() & 0xffffffffffffULL);
}

Result<fs::path> MakeScratchDir(const fs::path& parent, std::string_view prefix) {
  const fs::path dir = parent / (std::string(prefix) + RandomSuffix());
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Error::Transient("io_error", "cannot create " + dir.string() + ": " + ec.message());
  }
  return dir;
}

RemoveTreeOnExit::~RemoveTreeOnExit() {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

}  // namespace chansum::media
