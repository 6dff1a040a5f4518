#include "chansum/service/backoff.hpp"

#include <atomic>
#include <chrono>

#include <gtest/gtest.h>

namespace chansum::service {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesWithJitterUpToTheCapAndResets) {
  Backoff b(milliseconds(100), milliseconds(400), [] { return false; });
  const long steps[] = {100, 200, 400, 400, 400};
  for (long step : steps) {
    const auto d = b.Next().count();
    EXPECT_GE(d, step / 2);
    EXPECT_LE(d, step);
  }
  b.Reset();
  EXPECT_LE(b.Next().count(), 100);
}

TEST(BackoffTest, WaitSleepsAboutTheStep) {
  Backoff b(milliseconds(100), milliseconds(100), [] { return false; });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(b.Wait());
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, milliseconds(50));
  EXPECT_LT(took, milliseconds(1000));
}

TEST(BackoffTest, WaitEndsEarlyWhenStopped) {
  std::atomic<int> polls{0};
  Backoff b(milliseconds(60000), milliseconds(60000), [&] { return ++polls > 3; });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(b.Wait());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2000));
}

}  // namespace
}  // namespace chansum::service
