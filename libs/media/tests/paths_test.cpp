// ConfineToMediaDir: what a crafted command could name is refused; paths inside pass.
#include "chansum/media/paths.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_media.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(ConfineToMediaDirTest, AcceptsFilesInsideExistingOrNot) {
  TempDir tmp;
  const fs::path media = tmp.path() / "media";
  fs::create_directories(media / "abc");
  std::ofstream(media / "abc" / "media.mp4") << "x";
  auto existing = ConfineToMediaDir(media / "abc" / "media.mp4", media);
  ASSERT_TRUE(existing.ok()) << existing.error().ToString();
  EXPECT_EQ(*existing, fs::canonical(media / "abc" / "media.mp4"));
  auto future = ConfineToMediaDir(media / "new" / "audio.wav", media);
  ASSERT_TRUE(future.ok()) << future.error().ToString();
  // "a/../b" inside the directory stays inside.
  auto dotted = ConfineToMediaDir(media / "abc" / ".." / "abc" / "media.mp4", media);
  ASSERT_TRUE(dotted.ok()) << dotted.error().ToString();
  EXPECT_EQ(*dotted, *existing);
  // MEDIA_DIR given with a trailing slash or as a relative path.
  EXPECT_TRUE(ConfineToMediaDir(media / "abc" / "media.mp4", media.string() + "/").ok());
  const auto cwd = fs::current_path();
  fs::current_path(tmp.path());
  EXPECT_TRUE(ConfineToMediaDir("media/abc/media.mp4", "media").ok());
  EXPECT_TRUE(ConfineToMediaDir(media / "abc" / "media.mp4", "./media").ok());
  fs::current_path(cwd);
}

TEST(ConfineToMediaDirTest, RefusesEverythingOutside) {
  TempDir tmp;
  const fs::path media = tmp.path() / "media";
  fs::create_directories(media / "abc");
  fs::create_directories(tmp.path() / "media2");
  std::ofstream(tmp.path() / "secret.txt") << "secret";
  fs::create_symlink(tmp.path(), media / "abc" / "link");
  const std::vector<fs::path> outside = {
      "",
      "/etc/passwd",
      media / ".." / "secret.txt",
      media / "abc" / ".." / ".." / "secret.txt",
      media / "abc" / "link" / "secret.txt",  // a symlink leading out
      tmp.path() / "media2" / "x.mp4",        // a sibling sharing the name's prefix
      media,                                  // the directory itself
      media / "abc" / "..",
      "relative/../../../etc/passwd",
  };
  for (const auto& p : outside) {
    auto r = ConfineToMediaDir(p, media);
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_FALSE(r.error().transient()) << p;
    EXPECT_EQ(r.error().code, "path_outside_media_dir") << p;
  }
  EXPECT_FALSE(ConfineToMediaDir(media / "abc" / "f", "").ok());
}

}  // namespace
}  // namespace chansum::media
