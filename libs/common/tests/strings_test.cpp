#include "chansum/common/strings.hpp"

#include <gtest/gtest.h>

#include <string>

namespace chansum {
namespace {

TEST(StringsTest, HexLowerWritesTwoDigitsPerByteWithHighBytesUnsigned) {
  EXPECT_EQ(HexLower(""), "");
  EXPECT_EQ(HexLower("abc"), "616263");
  EXPECT_EQ(HexLower(std::string("\x00\x0f\xf0\xff", 4)), "000ff0ff");
}

TEST(StringsTest, AsciiLowerLeavesBytesBeyondAsciiAlone) {
  EXPECT_EQ(AsciiLower("YouTube"), "youtube");
  EXPECT_EQ(AsciiLower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");
}

TEST(StringsTest, TrimAndPrefix) {
  EXPECT_EQ(TrimWhitespace(" \t a b \r\n"), "a b");
  EXPECT_TRUE(StartsWithNoCase("HTTPS://x", "https://"));
  EXPECT_FALSE(StartsWithNoCase("http", "https"));
}

}  // namespace
}  // namespace chansum
