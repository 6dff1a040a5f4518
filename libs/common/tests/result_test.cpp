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

TEST(ResultTest, ARetryHintIsAFieldThatWrappingAndCopiesKeep) {
  using std::chrono::milliseconds;
  const Error hinted =
      WithRetryAfter(Error::Transient("rate_limited", "HTTP 429"), milliseconds(90000));
  ASSERT_TRUE(hinted.retry_after);
  EXPECT_EQ(*hinted.retry_after, milliseconds(90000));
  EXPECT_EQ(hinted.message, "HTTP 429") << "the hint is not written into the message";
  EXPECT_EQ(hinted.ToString(), "transient error [rate_limited]: HTTP 429 (retry in 90 s)");

  // Wrapped with context, returned through a Result and a Status: the hint travels along.
  const Error wrapped = Wrapped(hinted, "https://api.test/v1/chat/completions");
  EXPECT_EQ(wrapped.message, "https://api.test/v1/chat/completions: HTTP 429");
  EXPECT_EQ(wrapped.code, "rate_limited");
  EXPECT_TRUE(wrapped.transient());
  EXPECT_EQ(wrapped.retry_after, milliseconds(90000));
  const Result<int> result = wrapped;
  const Status status = result.error();
  EXPECT_EQ(status.error().retry_after, milliseconds(90000));

  // A permanent error never carries one; a hint is capped at a day; a shorter one does not
  // replace a longer one; milliseconds read as such.
  EXPECT_FALSE(
      WithRetryAfter(Error::Permanent("forbidden", "403"), milliseconds(5000)).retry_after);
  EXPECT_FALSE(WithRetryAfter(Error::Transient("t", "m"), milliseconds(0)).retry_after);
  EXPECT_EQ(WithRetryAfter(Error::Transient("t", "m"), std::chrono::hours(48)).retry_after,
            Error::kMaxRetryAfter);
  EXPECT_EQ(WithRetryAfter(hinted, milliseconds(10)).retry_after, milliseconds(90000));
  EXPECT_EQ(
      WithRetryAfter(Error::Transient("host_busy", "next token"), milliseconds(250)).ToString(),
      "transient error [host_busy]: next token (retry in 250 ms)");
}

}  // namespace
}  // namespace chansum
