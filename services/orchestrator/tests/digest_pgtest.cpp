// Channel digests against a real PostgreSQL (a private schema per test) and the Mongo-wire
// document store (MONGO_URI, a database of its own), issue 18 §3.8:
//   - the digest loop builds in the one transaction/connection that claimed the job: with a pool
//     of ONE connection it must not wait for a second one (bounded: a stall fails, not hangs);
//   - a retried job that finishes again gets a digest of its new summaries, from the loop and
//     from GET /jobs/{id}/digest (EnsureDigest), not the one of its first finish.
#include <chrono>
#include <future>

#include <gtest/gtest.h>

#include "chansum/docstore/docstore.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/testing/pg_schema.hpp"
#include "chansum/testing/support.hpp"
#include "src/api.hpp"
#include "src/digest.hpp"
#include "src/reliability.hpp"

namespace chansum::orchestrator {
namespace {

using nlohmann::json;

constexpr auto kBound = std::chrono::seconds(30);
constexpr const char* kSince = "1970-01-01T00:00:00Z";

class DigestTest : public testing::SchemaFixture {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    const std::string uri = testing::RequireEnv("MONGO_URI");
    ASSERT_FALSE(uri.empty());
    docstore::DocstoreConfig doc_config;
    doc_config.uri = testing::UrlWithDatabase(uri, "digest_" + testing::RandomName());
    auto docs = docstore::DocStore::Open(doc_config);
    ASSERT_TRUE(docs.ok()) << docs.error().ToString();
    docs_ = std::move(*docs);
    // ONE connection, and a short wait for it: a builder that asks for a second one while it
    // holds the first fails within seconds instead of stalling.
    pool_ = std::make_unique<pg::ConnectionPool>(pg_, 1, std::chrono::seconds(2));
    deps_.docs = docs_.get();
    deps_.queue_prefix = "digest-" + testing::RandomName() + ".";
    deps_.txn = [this](const std::function<void(pqxx::work&)>& fn) -> Status {
      return pg::WithTransaction(*pool_, [&](pqxx::work& txn) {
        fn(txn);
        return Ok{};
      });
    };
  }

  void TearDown() override {
    if (docs_) {
      for (const char* c : {protocol::kSummariesCollection, protocol::kDigestsCollection}) {
        EXPECT_TRUE(docs_->Drop(c).ok()) << c;
      }
    }
    pool_.reset();
    SchemaFixture::TearDown();
  }

  void Exec(const std::string& sql) {
    pqxx::work txn(*conn_);
    txn.exec(sql);
    txn.commit();
  }

  void Summarize(const std::string& video_id, const std::string& text) {
    protocol::Summary s;
    s.summary = text;
    s.key_points = {text};
    ASSERT_TRUE(docs_->Upsert(protocol::kSummariesCollection, video_id, protocol::ToJson(s)).ok());
  }

  // BuildPendingDigests on its own thread, bounded by kBound.
  Result<int> BuildBounded() {
    auto built =
        std::async(std::launch::async, [this] { return BuildPendingDigests(deps_, 20, kSince); });
    if (built.wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "the digest loop stalled for " << kBound.count() << " s";
      return Error::Transient("stalled", "digest loop stalled");
    }
    return built.get();
  }

  std::unique_ptr<docstore::DocStore> docs_;
  std::unique_ptr<pg::ConnectionPool> pool_;
  ApiDeps deps_;
};

TEST_F(DigestTest, BuiltWithOnePooledConnectionAndRebuiltAfterRetry) {
  std::string job_id;
  const std::string ok_video = "digest-ok-" + testing::RandomName();
  const std::string failed_video = "digest-failed-" + testing::RandomName();
  {
    pqxx::work txn(*conn_);
    job_id = InsertDemoJob(txn);
    txn.commit();
  }
  Exec(
      "INSERT INTO videos (job_id, video_id, position, title, url, stage, state, last_error) "
      "VALUES ('" +
      job_id + "', '" + ok_video +
      "', 0, 'Bread', 'http://x/a.mp4', "
      "'summarization', 'done', NULL), ('" +
      job_id + "', '" + failed_video +
      "', 1, 'Moon', "
      "'http://x/b.mp4', 'download', 'failed', 'boom')");
  Exec(
      "UPDATE jobs SET state = 'completed_with_errors', video_count = 2, started_at = now() - "
      "interval '2 minutes', finished_at = now() - interval '1 minute' WHERE id = '" +
      job_id + "'");
  Summarize(ok_video, "Yeast makes the bread rise.");

  // ---- (b) one pooled connection is enough
  auto built = BuildBounded();
  ASSERT_TRUE(built.ok()) << built.error().ToString();
  EXPECT_EQ(*built, 1);
  auto first = EnsureDigest(deps_, job_id);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->at("summarized"), 1) << first->dump(2);

  // ---- (a) retry, the failed video now succeeds, the job finishes again
  std::string digest_at_after_retry = "set";
  auto st = deps_.txn([&](pqxx::work& txn) {
    const auto outcome = RetryJob(txn, deps_.queue_prefix, job_id);
    EXPECT_EQ(outcome.requeued, 1);
    auto r = txn.exec_params("SELECT digest_at IS NULL FROM jobs WHERE id = $1::uuid", job_id);
    digest_at_after_retry = r[0][0].as<bool>() ? "null" : "set";
  });
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(digest_at_after_retry, "null") << "POST /jobs/{id}/retry must reset digest_at";
  Exec(
      "UPDATE videos SET state = 'done', stage = 'summarization', last_error = NULL WHERE "
      "job_id = '" +
      job_id + "' AND video_id = '" + failed_video + "'");
  Summarize(failed_video, "Apollo eleven landed on the moon.");
  Exec("UPDATE jobs SET state = 'completed', finished_at = now() WHERE id = '" + job_id + "'");

  // GET /jobs/{id}/digest before the loop ran: not the digest of the first finish.
  auto on_demand = EnsureDigest(deps_, job_id);
  ASSERT_TRUE(on_demand.ok()) << on_demand.error().ToString();
  EXPECT_EQ(on_demand->at("summarized"), 2) << on_demand->dump(2);
  EXPECT_EQ(on_demand->at("state"), "completed");

  // The loop claims the job again (digest_at was reset) and builds from the new summaries.
  auto rebuilt = BuildBounded();
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().ToString();
  EXPECT_EQ(*rebuilt, 1) << "a retried job that finished again must get its digest rebuilt";
  auto second = EnsureDigest(deps_, job_id);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(second->at("summarized"), 2) << second->dump(2);
  EXPECT_NE(second->dump().find("Apollo eleven"), std::string::npos) << second->dump(2);
}

}  // namespace
}  // namespace chansum::orchestrator
