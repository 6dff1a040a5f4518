// The LLM backend's token accounting against a real PostgreSQL (private schema): tokens of every
// call add up per job, a call that could pass JOB_TOKEN_BUDGET is refused with a clear permanent
// error, and the model/tokens land on the video row.
#include <gtest/gtest.h>

#include "chansum/common/ids.hpp"
#include "chansum/store/token_usage.hpp"
#include "chansum/testing/pg_schema.hpp"
#include "src/summarization.hpp"

namespace chansum::summarization {
namespace {

class TokenBudgetTest : public testing::SchemaFixture {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    pqxx::work txn(*conn_);
    job_id_ = InsertDemoJob(txn);
    store::DiscoveredVideo v;
    v.video_id = "vid1";
    v.title = "One";
    v.url = "http://127.0.0.1:1/v1.mp4";
    (void)store::RecordDiscovery(txn, job_id_, {v});
    txn.commit();
    pool_ = std::make_unique<pg::ConnectionPool>(pg_, 2);
  }
  void TearDown() override {
    pool_.reset();
    SchemaFixture::TearDown();
  }

  std::string job_id_;
  std::unique_ptr<pg::ConnectionPool> pool_;
};

TEST_F(TokenBudgetTest, CallsAddUpAndTheBudgetStopsTheNextOne) {
  stage::TokenBudget budget(*pool_, 1000);
  auto hooks = TokenBudgetHooks(budget, job_id_);
  ASSERT_TRUE(hooks.before_call(400).ok());
  summarize::TokenUsage call;
  call.total_tokens = 450;
  ASSERT_TRUE(hooks.after_call(call).ok());
  ASSERT_TRUE(hooks.before_call(500).ok());  // 450 + 500 <= 1000
  call.total_tokens = 250;
  ASSERT_TRUE(hooks.after_call(call).ok());
  auto refused = hooks.before_call(400);  // 700 + 400 > 1000
  ASSERT_FALSE(refused.ok());
  EXPECT_FALSE(refused.error().transient());
  EXPECT_EQ(refused.error().code, "token_budget_exceeded");
  EXPECT_NE(refused.error().message.find("700 of JOB_TOKEN_BUDGET=1000"), std::string::npos)
      << refused.error().message;
  auto row = Query("SELECT tokens, calls FROM job_token_usage WHERE job_id = '" + job_id_ + "'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<long>(), 700);
  EXPECT_EQ(row[0][1].as<int>(), 2);
  // Another job has its own count.
  EXPECT_TRUE(TokenBudgetHooks(budget, NewUuid()).before_call(900).ok());
}

TEST_F(TokenBudgetTest, NoBudgetMeansUnlimitedButStillCounted) {
  stage::TokenBudget unlimited(*pool_, 0);
  auto hooks = TokenBudgetHooks(unlimited, job_id_);
  summarize::TokenUsage call;
  call.total_tokens = 5'000'000;
  ASSERT_TRUE(hooks.after_call(call).ok());
  EXPECT_TRUE(hooks.before_call(5'000'000).ok());
  pqxx::work txn(*conn_);
  EXPECT_EQ(store::JobTokensUsed(txn, job_id_), 5'000'000);
}

TEST_F(TokenBudgetTest, ModelAndTokensOnTheVideoRow) {
  stage::TokenBudget budget(*pool_, 0);
  ASSERT_TRUE(budget.RecordVideo(job_id_, "vid1", "gpt-test", 1234).ok());
  auto row = Query("SELECT llm_model, llm_tokens FROM videos WHERE job_id = '" + job_id_ +
                   "' AND video_id = 'vid1'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<std::string>(), "gpt-test");
  EXPECT_EQ(row[0][1].as<long>(), 1234);
}

}  // namespace
}  // namespace chansum::summarization
