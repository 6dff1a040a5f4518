// The retry budget is elapsed time: with the shipped defaults a transient failure is retried for
// minutes (a 30-second outage of a dependency fails no video), MAX_ATTEMPTS still wins when set.
#include <gtest/gtest.h>

#include "chansum/pipeline/pipeline.hpp"

namespace chansum::pipeline {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// The shortest time `attempts` tries take to fail for good (every delay at 50 % jitter).
milliseconds ShortestSpan(const RetryPolicy& p) {
  milliseconds span{0};
  milliseconds delay = std::min(p.base_delay, p.max_delay);
  for (int attempt = 1; attempt < p.max_attempts; ++attempt) {
    span += delay / 2;
    delay = std::min(delay * 2, p.max_delay);
  }
  return span;
}

TEST(RetryPolicyTest, DefaultsRetryATransientFailureForAtLeastFiveMinutes) {
  ConfigReader env(std::map<std::string, std::string>{});
  const auto p = RetryPolicyFromEnv(env);
  EXPECT_EQ(p.base_delay, seconds(1));
  EXPECT_EQ(p.max_delay, seconds(60));
  EXPECT_GE(ShortestSpan(p), minutes(5)) << p.max_attempts << " tries";
  EXPECT_EQ(p.max_attempts, 16);
  for (int attempt = 1; attempt < p.max_attempts; ++attempt) {
    EXPECT_LE(RetryDelay(p, attempt), seconds(60)) << "the backoff is capped";
  }
}

TEST(RetryPolicyTest, RetryForSetsTheBudgetAndMaxAttemptsOverridesIt) {
  ConfigReader thirty(std::map<std::string, std::string>{{"RETRY_FOR", "30s"}});
  const auto p = RetryPolicyFromEnv(thirty);
  EXPECT_GE(ShortestSpan(p), seconds(30));
  EXPECT_LT(ShortestSpan(RetryPolicy{p.max_attempts - 1, p.base_delay, p.max_delay}), seconds(30))
      << "no more tries than the budget needs";

  ConfigReader hour(std::map<std::string, std::string>{{"RETRY_FOR", "1h"}});
  EXPECT_EQ(RetryPolicyFromEnv(hour).max_attempts, 100) << "at most 100 tries";

  ConfigReader fixed(
      std::map<std::string, std::string>{{"RETRY_FOR", "1h"}, {"MAX_ATTEMPTS", "12"}});
  EXPECT_EQ(RetryPolicyFromEnv(fixed).max_attempts, 12);
  EXPECT_EQ(AttemptsWithin(milliseconds(0), seconds(1), seconds(60)), 2) << "always one retry";
}

}  // namespace
}  // namespace chansum::pipeline
