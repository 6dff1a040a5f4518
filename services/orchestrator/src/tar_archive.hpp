#pragma once
// The export's tar archives, written by libarchive (POSIX pax, plain ustar headers whenever the
// names allow) and handed on block by block, so the archive is never held in memory whole.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace chansum::orchestrator {

// A regular file of the archive (mode 0644).
struct TarEntry {
  std::string name;  // a relative path, '/' between directories
  std::string content;
};

// Takes the archive's next bytes; false stops the writing (e.g. the client went away).
using TarSink = std::function<bool(std::string_view bytes)>;

// Writes `entries` (modification time `mtime`, seconds since the epoch) to `sink`. False when the
// sink refused bytes or libarchive failed.
[[nodiscard]] bool WriteTar(const std::vector<TarEntry>& entries, std::int64_t mtime,
                            const TarSink& sink);

// The whole archive in a string (tests, small archives).
[[nodiscard]] std::string MakeTar(const std::vector<TarEntry>& entries, std::int64_t mtime);

}  // namespace chansum::orchestrator
