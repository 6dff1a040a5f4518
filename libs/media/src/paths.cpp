#include "chansum/media/paths.hpp"

#include <algorithm>
#include <system_error>

namespace chansum::media {

namespace fs = std::filesystem;

Result<fs::path> ConfineToMediaDir(const fs::path& path, const fs::path& media_dir) {
  auto outside = [&path](const std::string& why) {
    return Error::Permanent("path_outside_media_dir",
                            "media path \"" + path.string() + "\" " + why);
  };
  if (path.empty()) return outside("is empty");
  if (media_dir.empty()) return outside("cannot be checked: MEDIA_DIR is empty");
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::absolute(media_dir, ec), ec);
  if (ec) {
    return Error::Transient("io_error",
                            "cannot resolve MEDIA_DIR " + media_dir.string() + ": " + ec.message());
  }
  const fs::path absolute = fs::absolute(path, ec);
  if (ec)
    return Error::Transient("io_error", "cannot resolve " + path.string() + ": " + ec.message());
  const fs::path resolved = fs::weakly_canonical(absolute, ec);
  if (ec)
    return Error::Transient("io_error", "cannot resolve " + path.string() + ": " + ec.message());
  // Component-wise prefix: "/media2/x" is not inside "/media". weakly_canonical leaves no "." or
  // ".." in either path; a trailing separator shows up as an empty last component.
  auto r = root.begin();
  auto p = resolved.begin();
  for (; r != root.end(); ++r) {
    if (r->empty()) continue;  // "/media/" -> trailing empty element
    if (p == resolved.end() || *p != *r) {
      return outside("is outside MEDIA_DIR " + root.string());
    }
    ++p;
  }
  if (std::none_of(p, resolved.end(), [](const fs::path& part) { return !part.empty(); })) {
    return outside("is MEDIA_DIR itself, not a file inside it");
  }
  return resolved;
}

}  // namespace chansum::media
