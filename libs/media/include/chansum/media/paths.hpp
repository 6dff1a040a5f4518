#pragma once
// Media paths are confined to MEDIA_DIR: a path that arrives in a command or a database row is
// only read, written or deleted after its canonical form (symlinks and ".." resolved) is checked
// to lie inside the canonical MEDIA_DIR. A crafted "../../etc/passwd" or "/home/x" never is.
#include <filesystem>

#include "chansum/common/result.hpp"

namespace chansum::media {

// The canonical form of `path` when it lies strictly inside `media_dir` (both made absolute
// against the working directory and resolved with std::filesystem::weakly_canonical, so neither
// needs to exist yet). Otherwise a permanent "path_outside_media_dir" error naming the path (an
// empty path, MEDIA_DIR itself, "..", a symlink leading out, a sibling such as <media_dir>2/x).
// A filesystem error while resolving is a transient "io_error".
[[nodiscard]] Result<std::filesystem::path> ConfineToMediaDir(
    const std::filesystem::path& path, const std::filesystem::path& media_dir);

}  // namespace chansum::media
