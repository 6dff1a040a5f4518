#include "chansum/common/result.hpp"

#include <gtest/gtest.h>

namespace chansum {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Error::Permanent("odd", std::to_string(x) + " is odd");
  return x / 2;
}

TEST(ResultTest, ValueAndError) {
  auto ok = Half(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "odd");
  EXPECT_FALSE(bad.error().transient());
  EXPECT_EQ(bad.error().ToString(), "permanent error [odd]: 3 is odd");
  EXPECT_TRUE(Error::Transient("t", "m").transient());
}

}  // namespace
}  // namespace chansum
