// Per-host rate limits shared across processes (issue 15 §2) against a real PostgreSQL: two
// HostLimits on two connection pools (two clients, as two workers in two processes) share one
// token bucket per host; a block one of them records stops the other; a bot check blocks the
// host for the long bot-check time and delays the retry until then.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "chansum/pg/pool.hpp"
#include "chansum/pipeline/pipeline.hpp"
#include "chansum/stage/host_limits.hpp"
#include "chansum/store/store.hpp"
#include "chansum/testing/pg_schema.hpp"

namespace chansum::stage {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

TEST(HostRateConfig, ParsesRatesPatternsAndDefaults) {
  auto r = ParseHostRate("1/s burst 5");
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->per_second, 1);
  EXPECT_DOUBLE_EQ(r->burst, 5);
  r = ParseHostRate(" 30/M ");
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->per_second, 0.5);
  EXPECT_DOUBLE_EQ(r->burst, 1);
  for (const char* bad : {"", "1", "0/s", "-1/s", "1/d", "1/s burst 0", "x/s", "1/s burst"}) {
    EXPECT_FALSE(ParseHostRate(bad).ok()) << bad;
  }

  ConfigReader defaults(std::map<std::string, std::string>{});
  const auto d = HostLimitsConfig::FromEnv(defaults);
  EXPECT_TRUE(defaults.problems().empty());
  auto yt = BucketForUrl(d, "https://www.youtube.com/@handle/videos");
  ASSERT_TRUE(yt && yt->rate);
  EXPECT_EQ(yt->bucket, "youtube");
  EXPECT_DOUBLE_EQ(yt->rate->burst, 5);
  EXPECT_EQ(BucketForUrl(d, "https://youtu.be/dQw4w9WgXcQ")->bucket, "youtube");
  EXPECT_EQ(BucketForUrl(d, "https://youtube.com/watch?v=x")->bucket, "youtube");
  // The local demo and other hosts: no limit by default, a bucket of their own for blocks.
  auto demo = BucketForUrl(d, "http://127.0.0.1:30090/demo/feed.xml");
  ASSERT_TRUE(demo);
  EXPECT_EQ(demo->bucket, "127.0.0.1");
  EXPECT_FALSE(demo->rate);
  EXPECT_FALSE(BucketForUrl(d, "https://notyoutube.com/x")->rate);

  ConfigReader env(std::map<std::string, std::string>{
      {"RATE_LIMIT_YOUTUBE", "off"}, {"RATE_LIMIT_HOSTS", "*.Example.org=2/s burst 3, a.b=1/h"}});
  const auto c = HostLimitsConfig::FromEnv(env);
  EXPECT_TRUE(env.problems().empty());
  EXPECT_FALSE(BucketForUrl(c, "https://www.youtube.com/x")->rate);
  EXPECT_EQ(BucketForUrl(c, "https://cdn.example.org/v")->bucket, "*.example.org");
  EXPECT_EQ(BucketForUrl(c, "https://EXAMPLE.org/v")->bucket, "*.example.org");
  EXPECT_DOUBLE_EQ(BucketForUrl(c, "http://a.b/")->rate->per_second, 1.0 / 3600);

  ConfigReader bad(std::map<std::string, std::string>{{"RATE_LIMIT_YOUTUBE", "fast"},
                                                      {"RATE_LIMIT_HOSTS", "x.org, y.org=1/y"}});
  (void)HostLimitsConfig::FromEnv(bad);
  EXPECT_EQ(bad.problems().size(), 3U);
}

class HostLimitsTest : public testing::SchemaFixture {
 protected:
  static HostLimitsConfig Config(const std::string& rate, milliseconds max_wait) {
    ConfigReader env(std::map<std::string, std::string>{{"RATE_LIMIT_HOSTS", "media.test=" + rate},
                                                        {"RATE_LIMIT_YOUTUBE", "off"}});
    auto c = HostLimitsConfig::FromEnv(env);
    c.max_wait = max_wait;
    return c;
  }
};

TEST_F(HostLimitsTest, TwoClientsShareOneBucket) {
  // 2 tokens a second, burst 4; a worker may wait up to 1 s for its token.
  pg::ConnectionPool pool_a(pg_, 2), pool_b(pg_, 2);
  HostLimits a(pool_a, Config("2/s burst 4", 1000ms));
  HostLimits b(pool_b, Config("2/s burst 4", 1000ms));
  const HostBucket bucket = *BucketForUrl(a.config(), "https://media.test/v/1");

  // Burst: 4 tokens at once, taken alternately by the two clients, none waits.
  for (int i = 0; i < 4; ++i) {
    auto p = (i % 2 == 0 ? a : b).Take(bucket);
    ASSERT_TRUE(p.ok()) << p.error().ToString();
    EXPECT_TRUE(p->granted) << i;
    EXPECT_EQ(p->wait.count(), 0) << i;
  }
  // The 5th and 6th are reserved slots 0.5 s and 1 s ahead, whoever takes them.
  auto fifth = b.Take(bucket);
  ASSERT_TRUE(fifth.ok());
  EXPECT_TRUE(fifth->granted);
  EXPECT_GT(fifth->wait.count(), 350);
  EXPECT_LE(fifth->wait.count(), 500);
  auto sixth = a.Take(bucket);
  ASSERT_TRUE(sixth.ok());
  EXPECT_TRUE(sixth->granted);
  EXPECT_GT(sixth->wait.count(), 850);
  // The 7th would be 1.5 s away, beyond max_wait: refused with when to come back.
  auto seventh = b.Take(bucket);
  ASSERT_TRUE(seventh.ok());
  EXPECT_FALSE(seventh->granted);
  EXPECT_FALSE(seventh->blocked);
  EXPECT_GT(seventh->wait.count(), 1000);
  const auto st = b.Acquire("https://media.test/v/7", {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "host_busy");
  EXPECT_TRUE(st.error().transient());
  ASSERT_TRUE(st.error().retry_after) << st.error().message;
  EXPECT_GT(st.error().retry_after->count(), 1000);
  EXPECT_EQ(
      Query("SELECT granted FROM host_rate_limits WHERE bucket = 'media.test'")[0][0].as<int>(), 6);
}

TEST_F(HostLimitsTest, ConcurrentWorkersOfTwoClientsNeverExceedTheRate) {
  // 16 calls by 8 threads over two clients at 10/s with burst 2: the last can start no earlier
  // than (16 - 2) / 10 = 1.4 s after the first; Acquire sleeps for the reserved slots.
  pg::ConnectionPool pool_a(pg_, 4), pool_b(pg_, 4);
  HostLimits a(pool_a, Config("10/s burst 2", 5000ms));
  HostLimits b(pool_b, Config("10/s burst 2", 5000ms));
  std::atomic<int> ok{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2; ++i) {
        if ((t % 2 == 0 ? a : b).Acquire("http://media.test/x", {}).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ok.load(), 16);
  EXPECT_GE(elapsed, 1300ms);
  EXPECT_LT(elapsed, 5000ms);
}

TEST_F(HostLimitsTest, ABotCheckSeenByOneClientBlocksTheHostForTheOther) {
  pg::ConnectionPool pool_a(pg_, 2), pool_b(pg_, 2);
  auto config = Config("5/s burst 5", 1000ms);
  config.block_bot_check = 3600s;
  config.block_429 = 120s;
  HostLimits a(pool_a, config);
  HostLimits b(pool_b, config);

  // Other errors change nothing.
  auto plain = a.Observe("https://media.test/v", Error::Transient("network", "reset"));
  EXPECT_FALSE(plain.retry_after);
  EXPECT_EQ(plain.message, "reset");
  ASSERT_TRUE(b.Acquire("https://media.test/v", {}).ok());

  Error seen = a.Observe("https://media.test/v/1",
                         Error::Transient("bot_check", "Sign in to confirm you're not a bot"));
  EXPECT_EQ(seen.code, "bot_check");
  ASSERT_TRUE(seen.retry_after) << seen.message;
  EXPECT_EQ(*seen.retry_after, milliseconds(3600s));
  EXPECT_NE(seen.message.find("media.test is blocked for every worker for 3600 s"),
            std::string::npos)
      << seen.message;
  // The runner's retry of it waits for the block, not for the policy's short backoff.
  const pipeline::RetryPolicy policy{5, 2s, 2s};
  EXPECT_EQ(pipeline::RetryDelay(policy, 1, seen), milliseconds(3600s));
  EXPECT_LE(pipeline::RetryDelay(policy, 1, Error::Transient("network", "reset")), 2s);
  EXPECT_NE(seen.message.find("YTDLP_COOKIES_FILE"), std::string::npos);

  // The other client (another process) is refused for that host until the block ends, and its
  // retry is told to wait about an hour; other hosts are not affected.
  const auto st = b.Acquire("https://media.test/v/2", {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "host_blocked");
  ASSERT_TRUE(st.error().retry_after) << st.error().message;
  EXPECT_GT(st.error().retry_after->count(), 3590 * 1000);
  EXPECT_NE(st.error().message.find("bot_check"), std::string::npos);
  EXPECT_TRUE(b.Acquire("https://other.test/v/2", {}).ok());

  // A later, shorter 429 block does not shorten the bot-check block.
  (void)b.Observe("https://media.test/v/3", Error::Transient("rate_limited", "HTTP Error 429"));
  const auto left = Query(
      "SELECT extract(epoch from blocked_until - clock_timestamp()), blocked_count, "
      "blocked_reason FROM host_rate_limits WHERE bucket = 'media.test'");
  EXPECT_GT(left[0][0].as<double>(), 3590);
  EXPECT_EQ(left[0][1].as<int>(), 2);
  EXPECT_EQ(left[0][2].as<std::string>(), "rate_limited");
}

TEST_F(HostLimitsTest, ABotCheckIsAJobWarningInTheJobView) {
  std::string job_id;
  {
    pqxx::work txn(*conn_);
    job_id = InsertDemoJob(txn);
    txn.commit();
  }
  auto view = [&] {
    pqxx::work txn(*conn_);
    auto v = store::GetJobView(txn, job_id);
    txn.commit();
    return *v;
  };
  EXPECT_TRUE(view()["warnings"].empty());
  const auto version_before =
      Query("SELECT count(*) FROM job_changes WHERE job_id = '" + job_id + "'")[0][0].as<int>();

  pg::ConnectionPool pool_a(pg_, 2), pool_b(pg_, 2);
  HostLimits a(pool_a, Config("5/s burst 5", 1000ms));
  HostLimits b(pool_b, Config("5/s burst 5", 1000ms));
  (void)a.Observe("https://media.test/v/1",
                  Error::Transient("bot_check", "Sign in to confirm you're not a bot"), job_id);
  // Another worker refused because of the block counts too; a 429 is no such warning.
  EXPECT_FALSE(b.Acquire("https://media.test/v/2", {}, job_id).ok());
  (void)b.Observe("https://other.test/v/3", Error::Transient("rate_limited", "429"), job_id);

  const auto v = view();
  ASSERT_EQ(v["warnings"].size(), 1U) << v.dump();
  EXPECT_EQ(v["warnings"][0]["code"], "bot_check");
  EXPECT_EQ(v["warnings"][0]["count"], 2);
  const std::string message = v["warnings"][0]["message"];
  EXPECT_NE(message.find("YTDLP_COOKIES_FILE"), std::string::npos) << message;
  EXPECT_NE(message.find("YTDLP_PROXY"), std::string::npos) << message;
  // The job's view changed, so its version (ETag, live stream) moved.
  EXPECT_GT(
      Query("SELECT count(*) FROM job_changes WHERE job_id = '" + job_id + "'")[0][0].as<int>(),
      version_before);
}

TEST_F(HostLimitsTest, A429OnAHostWithoutALimitBlocksItBriefly) {
  pg::ConnectionPool pool(pg_, 2);
  auto config = Config("1/s", 1000ms);
  config.block_429 = 1500ms;
  HostLimits limits(pool, config);
  ASSERT_TRUE(limits.Acquire("http://127.0.0.1:9/feed.xml", {}).ok());
  ASSERT_TRUE(limits.Acquire("http://127.0.0.1:9/feed.xml", {}).ok()) << "no limit: no wait";
  (void)limits.Observe("http://127.0.0.1:9/feed.xml",
                       Error::Transient("rate_limited", "HTTP Error 429: Too Many Requests"));
  EXPECT_EQ(limits.Acquire("http://127.0.0.1:9/x", {}).error().code, "host_blocked");
  std::this_thread::sleep_for(1600ms);
  EXPECT_TRUE(limits.Acquire("http://127.0.0.1:9/x", {}).ok());
}

}  // namespace
}  // namespace chansum::stage
