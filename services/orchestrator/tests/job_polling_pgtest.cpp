// Polling GET /jobs/{id} (issue 14) against a real PostgreSQL (a private schema per test): pages of
// videos, the version of a job's view, the versions followed in memory (JobVersions) and the HTTP
// route with ETag / If-None-Match / 304.
#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "chansum/pg/pg.hpp"
#include "chansum/store/job_view.hpp"
#include "chansum/store/store.hpp"
#include "chansum/testing/pg_schema.hpp"
#include "chansum/testing/support.hpp"
#include "src/api.hpp"
#include "src/job_versions.hpp"

namespace chansum::orchestrator {
namespace {

using nlohmann::json;

class JobPollingTest : public testing::SchemaFixture {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    pqxx::work txn(*conn_);
    job_id_ = InsertDemoJob(txn);
    txn.commit();
  }

  void Exec(const std::string& sql) {
    auto conn = Open();
    pqxx::work txn(*conn);
    txn.exec(sql);
    txn.commit();
  }

  // Videos v0..v<n-1>; positions repeat (position = i / 2) so that the order's tie-break on
  // video_id matters.
  void AddVideos(int n) {
    std::string values;
    for (int i = 0; i < n; ++i) {
      const std::string v = "v" + std::to_string(i);
      values += std::string(i ? ", " : "") + "('" + job_id_ + "', '" + v + "', " +
                std::to_string(i / 2) + ", 'T " + v + "', 'http://x/" + v + "')";
    }
    Exec("UPDATE jobs SET state = 'running', started_at = now(), video_count = " +
         std::to_string(n) + " WHERE id = '" + job_id_ + "'");
    Exec("INSERT INTO videos (job_id, video_id, position, title, url) VALUES " + values);
  }

  store::JobVersion DbVersion() {
    auto conn = Open();
    pqxx::work txn(*conn);
    store::UseOneSnapshot(txn);
    return store::ReadJobVersion(txn, job_id_);
  }

  JobVersionOptions LongLag() const {
    JobVersionOptions o;
    o.max_lag = std::chrono::minutes(1);  // steps are driven by the test
    return o;
  }

  std::string job_id_;
};

// Every video exactly once across pages, in (position, video_id) order; counts of the whole job on
// every page; the last page's cursor is null.
TEST_F(JobPollingTest, PagesCoverEveryVideoOnceInOrder) {
  AddVideos(7);
  auto conn = Open();
  std::vector<std::string> seen;
  std::optional<store::VideoCursor> after;
  int pages = 0;
  while (true) {
    pqxx::work txn(*conn);
    store::UseOneSnapshot(txn);
    auto view = store::GetJobViewPage(txn, job_id_, 3, after ? &*after : nullptr);
    txn.commit();
    ASSERT_TRUE(view.has_value());
    ++pages;
    EXPECT_EQ((*view)["counts"]["total"], 7);
    EXPECT_LE((*view)["videos"].size(), 3U);
    for (const auto& v : (*view)["videos"]) seen.push_back(v["video_id"].get<std::string>());
    if ((*view)["videos_next_cursor"].is_null()) break;
    auto parsed = store::ParseVideoCursor((*view)["videos_next_cursor"].get<std::string>());
    ASSERT_TRUE(parsed.ok());
    after = *parsed;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"v0", "v1", "v2", "v3", "v4", "v5", "v6"}));
  // The whole view (the live stream's snapshot) has no cursor.
  pqxx::work txn(*conn);
  auto whole = store::GetJobView(txn, job_id_);
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ((*whole)["videos"].size(), 7U);
  EXPECT_FALSE(whole->contains("videos_next_cursor"));
  EXPECT_FALSE(store::GetJobViewPage(txn, NewUuid(), 3, nullptr).has_value());
}

// GET /videos/{id}/summary?format=md titles a summary with this: the newest non-empty title of
// the video over every job that listed it.
TEST_F(JobPollingTest, VideoTitleIsTheNewestKnownTitle) {
  AddVideos(2);
  std::string later_job;
  {
    auto conn = Open();
    pqxx::work txn(*conn);
    later_job = InsertDemoJob(txn);
    txn.commit();
  }
  Exec("INSERT INTO videos (job_id, video_id, position, title, url, created_at) VALUES ('" +
       later_job + "', 'v0', 0, 'Renamed v0', 'http://x/v0', now() + interval '1 second'), ('" +
       later_job + "', 'v1', 1, '', 'http://x/v1', now() + interval '1 second')");
  auto conn = Open();
  pqxx::work txn(*conn);
  EXPECT_EQ(store::VideoTitle(txn, "v0"), "Renamed v0");
  EXPECT_EQ(store::VideoTitle(txn, "v1"), "T v1");  // an empty title does not hide a known one
  EXPECT_EQ(store::VideoTitle(txn, "nope"), std::nullopt);
}

TEST_F(JobPollingTest, CursorsRoundTripAndRejectForgeries) {
  const store::VideoCursor c{42, "a_b/\xc3\xa9"};
  auto back = store::ParseVideoCursor(store::EncodeVideoCursor(c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->position, 42);
  EXPECT_EQ(back->video_id, c.video_id);
  for (const std::string bad : {"x", "_61", "1_", "1_6", "1_zz", "-1_61", "99999999999_61", "1_6G",
                                "12345678901234567890_61"}) {
    EXPECT_FALSE(store::ParseVideoCursor(bad).ok()) << bad;
  }
}

// The version changes with every field the view shows, also those the live stream's triggers of
// 0004/0011 ignored (timings, updated_at, title, ...), and not with fields it does not show.
TEST_F(JobPollingTest, VersionCoversEveryFieldOfTheView) {
  AddVideos(2);
  const std::string where = " WHERE job_id = '" + job_id_ + "' AND video_id = 'v0'";
  auto v0 = DbVersion();
  Exec("UPDATE videos SET lease_expires_at = now() + interval '1 minute', llm_tokens = 5" + where);
  EXPECT_EQ(DbVersion(), v0) << "lease renewal is not part of the view";
  Exec("UPDATE jobs SET digest_at = now(), lease_owner = 'x' WHERE id = '" + job_id_ + "'");
  EXPECT_EQ(DbVersion(), v0);

  Exec("UPDATE videos SET timings = '{\"transcription\": {\"skipped\": true}}'" + where);
  auto v1 = DbVersion();
  EXPECT_NE(v1, v0) << "timings alone changed";
  Exec("UPDATE videos SET title = 'renamed'" + where);
  auto v2 = DbVersion();
  EXPECT_NE(v2, v1);
  Exec("UPDATE jobs SET updated_at = now() + interval '1 second' WHERE id = '" + job_id_ + "'");
  auto v3 = DbVersion();
  EXPECT_NE(v3, v2);
  // A transaction with a state change and a timings change writes one row (the live stream's
  // events stay one per state change).
  {
    auto conn = Open();
    pqxx::work txn(*conn);
    txn.exec("UPDATE videos SET state = 'running'" + where);
    txn.exec("UPDATE videos SET timings = '{}'" + where);
    txn.commit();
  }
  auto v4 = DbVersion();
  EXPECT_EQ(v4.changes, v3.changes + 1);
  Exec("DELETE FROM videos" + where);
  EXPECT_NE(DbVersion(), v4) << "a deleted video changes the view";
}

// Two transactions change the job; the one that drew the LOWER seq commits LAST. A feed that
// followed job_changes by seq would step over it for good; the snapshot feed picks it up, and its
// version matches the database's at every step.
TEST_F(JobPollingTest, FeedFollowsCommitsThatLandOutOfSeqOrder) {
  AddVideos(2);
  JobVersions versions([this] { return Open(); }, LongLag());
  EXPECT_FALSE(versions.Current(job_id_).has_value()) << "not loaded yet";
  ASSERT_TRUE(versions.Step().ok());
  ASSERT_TRUE(versions.Current(job_id_).has_value());
  EXPECT_EQ(*versions.Current(job_id_), DbVersion());

  auto conn_a = Open();
  pqxx::work a(*conn_a);
  a.exec("UPDATE videos SET state = 'running' WHERE job_id = '" + job_id_ +
         "' AND video_id = 'v0'");  // draws the lower seq, stays open
  Exec("UPDATE videos SET state = 'running' WHERE job_id = '" + job_id_ + "' AND video_id = 'v1'");
  ASSERT_TRUE(versions.Step().ok());
  const auto after_b = DbVersion();
  EXPECT_EQ(*versions.Current(job_id_), after_b);
  a.commit();
  ASSERT_TRUE(versions.Step().ok());
  const auto after_a = DbVersion();
  EXPECT_NE(after_a, after_b);
  EXPECT_EQ(*versions.Current(job_id_), after_a);
}

TEST_F(JobPollingTest, FeedAnswersNothingWhenBehind) {
  JobVersionOptions o;
  o.max_lag = std::chrono::seconds(1);
  JobVersions versions([this] { return Open(); }, o);
  (void)versions.Current(job_id_);
  ASSERT_TRUE(versions.Step().ok());
  EXPECT_TRUE(versions.Current(job_id_).has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // no step for longer than max_lag
  EXPECT_FALSE(versions.Current(job_id_).has_value());
  ASSERT_TRUE(versions.Step().ok());
  EXPECT_TRUE(versions.Current(job_id_).has_value());
}

TEST(JobViewEtagTest, IncludesVersionAndPageAndParsesIfNoneMatch) {
  const std::string job = "6f1c1a4e-0000-4000-8000-000000000001";
  const store::JobVersion v{3, 99};
  const auto etag = JobViewEtag(job, v, 500, "");
  EXPECT_EQ(etag, JobViewEtag(job, v, 500, ""));
  EXPECT_NE(etag, JobViewEtag(job, store::JobVersion{4, 99}, 500, ""));
  EXPECT_NE(etag, JobViewEtag(job, store::JobVersion{3, 100}, 500, ""));
  EXPECT_NE(etag, JobViewEtag(job, v, 499, ""));
  EXPECT_NE(etag, JobViewEtag(job, v, 500, "0_61"));
  EXPECT_NE(etag, JobViewEtag("6f1c1a4e-0000-4000-8000-000000000002", v, 500, ""));
  EXPECT_TRUE(IfNoneMatchLists(etag, etag));
  EXPECT_TRUE(IfNoneMatchLists("\"x\", W/" + etag, etag));
  EXPECT_FALSE(IfNoneMatchLists("\"x\"", etag));
  EXPECT_FALSE(IfNoneMatchLists(etag.substr(0, etag.size() - 2) + "\"", etag));
  EXPECT_FALSE(IfNoneMatchLists("", etag));
}

// The HTTP route with the feed running, as in the orchestrator.
class JobPollingApiTest : public JobPollingTest {
 protected:
  void SetUp() override {
    JobPollingTest::SetUp();
    if (HasFatalFailure()) return;
    pool_ = std::make_unique<pg::ConnectionPool>(pg_, 2);
    JobVersionOptions o;
    o.poll_interval = std::chrono::milliseconds(5);
    o.max_lag = std::chrono::seconds(5);  // a loaded CI machine may pause the feed for a while
    versions_ = std::make_unique<JobVersions>([this] { return Open(); }, o);
    feed_ = std::thread([this] { versions_->Run(stop_); });
    ApiDeps deps;
    deps.txn = [this](const std::function<void(pqxx::work&)>& fn) -> Status {
      db_reads_.fetch_add(1);
      return pg::WithTransaction(*pool_, [&](pqxx::work& txn) {
        fn(txn);
        return Ok{};
      });
    };
    deps.readiness = [] { return nlohmann::json{{"ready", true}}; };
    deps.job_versions = versions_.get();
    RegisterRoutes(server_, deps);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    ASSERT_TRUE(testing::WaitFor([this] { return server_.is_running(); }, std::chrono::seconds(5)));
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
    stop_ = true;
    if (feed_.joinable()) feed_.join();
    versions_.reset();
    pool_.reset();
    JobPollingTest::TearDown();
  }

  httplib::Result Get(const std::string& path, const std::string& if_none_match = "") {
    httplib::Client cli("127.0.0.1", port_);
    httplib::Headers headers;
    if (!if_none_match.empty()) headers.emplace("If-None-Match", if_none_match);
    return cli.Get(path.c_str(), headers);
  }

  std::unique_ptr<pg::ConnectionPool> pool_;
  std::unique_ptr<JobVersions> versions_;
  std::atomic<bool> stop_{false};
  std::atomic<int> db_reads_{0};
  std::thread feed_;
  http::Server server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(JobPollingApiTest, IfNoneMatchGives304FromMemoryUntilTheJobChanges) {
  AddVideos(3);
  const std::string path = "/jobs/" + job_id_;
  auto first = Get(path);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  const std::string etag = first->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(etag.front(), '"');
  EXPECT_EQ(json::parse(first->body)["videos"][0]["state"], "pending");

  auto same = Get(path, etag);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 304);
  EXPECT_TRUE(same->body.empty());
  EXPECT_EQ(same->get_header_value("ETag"), etag);

  // Once the feed follows the job, a 304 needs no database read at all.
  ASSERT_TRUE(testing::WaitFor([&] { return versions_->Current(job_id_).has_value(); },
                               std::chrono::seconds(10), std::chrono::milliseconds(5)));
  const int reads = db_reads_.load();
  for (int i = 0; i < 20; ++i) {
    auto again = Get(path, etag);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 304);
  }
  EXPECT_EQ(db_reads_.load(), reads) << "304s read the database";

  // The page parameters are part of the ETag.
  auto other_page = Get(path + "?limit=2", etag);
  ASSERT_TRUE(other_page);
  EXPECT_EQ(other_page->status, 200);

  // A video changes state: within a bounded wait the old ETag no longer matches, and the 200
  // carries the new state and a new ETag.
  Exec("UPDATE videos SET state = 'running' WHERE job_id = '" + job_id_ + "' AND video_id = 'v0'");
  std::string new_etag;
  json body;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = Get(path, etag);
        if (!r || r->status != 200) return false;
        new_etag = r->get_header_value("ETag");
        body = json::parse(r->body);
        return true;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(5)));
  EXPECT_NE(new_etag, etag);
  EXPECT_EQ(body["videos"][0]["state"], "running");
  EXPECT_EQ(body["counts"]["by_state"]["running"], 1);
  auto settled = Get(path, new_etag);
  ASSERT_TRUE(settled);
  EXPECT_EQ(settled->status, 304);
}

TEST_F(JobPollingApiTest, CursorPagesReturnEveryVideoOnce) {
  AddVideos(5);
  std::vector<std::string> seen;
  std::set<std::string> etags;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    std::string path = "/jobs/" + job_id_ + "?limit=2";
    if (!cursor.empty()) path += "&cursor=" + cursor;
    auto r = Get(path);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    etags.insert(r->get_header_value("ETag"));
    auto j = json::parse(r->body);
    EXPECT_EQ(j["counts"]["total"], 5);
    for (const auto& v : j["videos"]) seen.push_back(v["video_id"].get<std::string>());
    if (j["videos_next_cursor"].is_null()) break;
    cursor = j["videos_next_cursor"].get<std::string>();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"v0", "v1", "v2", "v3", "v4"}));
  EXPECT_EQ(etags.size(), 3U) << "one ETag per page";
  // Default: the whole (small) job on one page.
  auto whole = Get("/jobs/" + job_id_);
  ASSERT_TRUE(whole);
  auto j = json::parse(whole->body);
  EXPECT_EQ(j["videos"].size(), 5U);
  EXPECT_TRUE(j["videos_next_cursor"].is_null());
}

TEST_F(JobPollingApiTest, BadLimitOrCursorIs400) {
  for (const std::string query :
       {"limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=", "cursor=zz", "cursor=1_6"}) {
    auto r = Get("/jobs/" + job_id_ + "?" + query);
    ASSERT_TRUE(r) << query;
    EXPECT_EQ(r->status, 400) << query;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << query;
    EXPECT_EQ(j["error"]["code"], "invalid_parameter") << query;
  }
  auto missing = Get("/jobs/" + NewUuid(), "\"v1-0-0000000000000000-500-0\"");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

}  // namespace
}  // namespace chansum::orchestrator
