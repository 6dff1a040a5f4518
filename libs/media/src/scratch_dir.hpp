#pragma once
// Private temporary names and directories for one run of an external program, so concurrent
// duplicates and killed runs never mix their files.
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "chansum/common/result.hpp"

namespace chansum::media {

// 12 random hex digits (a per-thread generator).
[[nodiscard]] std::string RandomSuffix();

// Creates `<parent>/<prefix><RandomSuffix()>` (and `parent` if missing); transient "io_error".
[[nodiscard]] Result<std::filesystem::path> MakeScratchDir(const std::filesystem::path& parent,
                                                           std::string_view prefix);

// Removes a directory tree when it goes out of scope.
struct RemoveTreeOnExit {
  explicit RemoveTreeOnExit(std::filesystem::path p) : path(std::move(p)) {}
  RemoveTreeOnExit(const RemoveTreeOnExit&) = delete;
  RemoveTreeOnExit& operator=(const RemoveTreeOnExit&) = delete;
  ~RemoveTreeOnExit();

  std::filesystem::path path;
};

}  // namespace chansum::media
