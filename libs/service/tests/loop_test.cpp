#include "chansum/service/loop.hpp"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace chansum::service {
namespace {

using std::chrono::milliseconds;

bool WaitUntil(const std::function<bool()>& pred) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

TEST(BackgroundLoopTest, RunsTheStepEveryIntervalUntilStopped) {
  std::atomic<int> runs{0};
  BackgroundLoop loop(
      "ticker",
      [&](const std::atomic<bool>&) {
        ++runs;
        return OkStatus();
      },
      LoopOptions{milliseconds(10), milliseconds(10), milliseconds(10)});
  ASSERT_TRUE(loop.Start().ok());
  EXPECT_TRUE(WaitUntil([&] { return runs.load() >= 3; }));
  EXPECT_TRUE(loop.Stop(Clock::now()));
  const int after = runs.load();
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(runs.load(), after);
  EXPECT_EQ(loop.steps(), static_cast<std::uint64_t>(after));
}

TEST(BackgroundLoopTest, FailuresAndExceptionsBackOffThenRecover) {
  std::atomic<int> runs{0};
  std::vector<Clock::time_point> at;
  std::mutex mu;
  BackgroundLoop loop(
      "flaky",
      [&](const std::atomic<bool>&) -> Status {
        {
          std::lock_guard lock(mu);
          at.push_back(Clock::now());
        }
        const int n = ++runs;
        if (n == 1) throw std::runtime_error("boom");
        if (n == 2) return Error::Transient("down", "still down");
        return OkStatus();
      },
      LoopOptions{milliseconds(5), milliseconds(100), milliseconds(1000)});
  ASSERT_TRUE(loop.Start().ok());
  EXPECT_TRUE(WaitUntil([&] { return runs.load() >= 4; }));
  loop.Stop(Clock::now());
  std::lock_guard lock(mu);
  // After the exception: at least half the first backoff step; after the error: of the second.
  EXPECT_GE(at[1] - at[0], milliseconds(50));
  EXPECT_GE(at[2] - at[1], milliseconds(100));
  // After a success: the interval, not the backoff.
  EXPECT_LT(at[3] - at[2], milliseconds(100));
}

TEST(BackgroundLoopTest, StopWakesALongWaitAndTheStepSeesTheFlag) {
  std::atomic<bool> saw_stop{false};
  BackgroundLoop waiting(
      "waiting", [](const std::atomic<bool>&) { return OkStatus(); },
      LoopOptions{std::chrono::hours(1), milliseconds(1), milliseconds(1)});
  BackgroundLoop running("running", [&](const std::atomic<bool>& stop) {
    while (!stop.load()) std::this_thread::sleep_for(milliseconds(1));
    saw_stop = true;
    return OkStatus();
  });
  ASSERT_TRUE(waiting.Start().ok());
  ASSERT_TRUE(running.Start().ok());
  EXPECT_TRUE(WaitUntil([&] { return waiting.steps() == 1; }));
  const auto t0 = Clock::now();
  waiting.Stop(Clock::now());
  running.Stop(Clock::now());
  EXPECT_LT(Clock::now() - t0, milliseconds(1000));
  EXPECT_TRUE(saw_stop.load());
}

}  // namespace
}  // namespace chansum::service
