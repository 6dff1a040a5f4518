// The subscription scheduler and a check's decision (issue 15 §1) against a real PostgreSQL (a
// private schema per test):
//   - two schedulers ticking against one database never fire the same check twice: checks are
//     at least one interval apart and each has exactly one job and one discovery command;
//   - a check missed for days runs once, and none starts while the previous check's job runs;
//   - discovery's record of a check keeps the job only when a video is new (not processed, not
//     failed in an earlier check); otherwise the job is deleted and the check says so;
//   - the subscription view and PATCH through the HTTP routes.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "chansum/docstore/docstore.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/pipeline/pipeline.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/store/store.hpp"
#include "chansum/store/subscriptions.hpp"
#include "chansum/testing/pg_schema.hpp"
#include "chansum/testing/support.hpp"
#include "src/reliability.hpp"
#include "src/subscriptions.hpp"

namespace chansum::orchestrator {
namespace {

using nlohmann::json;

constexpr const char* kPrefix = "subs.";

class SubscriptionsTest : public testing::SchemaFixture {
 protected:
  TxnRunner Runner(pg::ConnectionPool& pool) {
    return [&pool](const std::function<void(pqxx::work&)>& fn) -> Status {
      return pg::WithTransaction(pool, [&](pqxx::work& txn) {
        fn(txn);
        return Ok{};
      });
    };
  }

  std::string Subscribe(int every_s, const std::string& url = "https://example.org/feed.xml") {
    store::NewSubscription sub;
    sub.id = NewUuid();
    sub.channel = url;
    sub.channel_url = url;
    sub.every_s = every_s;
    sub.options = {{"max_videos", 5}, {"published_after", "2024-01-01T00:00:00Z"}};
    sub.queue_prefix = kPrefix;
    pqxx::work txn(*conn_);
    EXPECT_EQ(store::InsertSubscription(txn, sub), "");
    txn.commit();
    return sub.id;
  }

  int Count(const std::string& sql) { return Query(sql)[0][0].as<int>(); }
};

TEST_F(SubscriptionsTest, TwoSchedulersNeverFireOneCheckTwice) {
  const std::string id = Subscribe(1);
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  auto scheduler = [&](const std::string& name) {
    pg::ConnectionPool pool(pg_, 1);
    const auto txn = Runner(pool);
    while (!stop) {
      auto n = CheckDueSubscriptions(txn, kPrefix, name);
      EXPECT_TRUE(n.ok()) << n.error().ToString();
      if (n.ok()) started += *n;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  // Discovery's stand-in: every check's job ends at once, so the next check may start when due.
  auto finisher = [&] {
    auto conn = Open();
    while (!stop) {
      pqxx::work txn(*conn);
      txn.exec("UPDATE jobs SET state = 'completed', finished_at = now() WHERE state = 'queued'");
      txn.commit();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  std::thread a(scheduler, "scheduler-a"), b(scheduler, "scheduler-b"), f(finisher);
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));
  stop = true;
  a.join();
  b.join();
  f.join();
  const auto checks = Query(
      "SELECT extract(epoch FROM started_at)::float8, job_id::text, checked_by "
      "FROM subscription_checks WHERE subscription_id = '" +
      id + "' ORDER BY started_at");
  ASSERT_EQ(static_cast<int>(checks.size()), started.load());
  // Due at once, then every second for 4.5 s: 5 checks (4 if a tick came late), never more.
  EXPECT_GE(checks.size(), 4U);
  EXPECT_LE(checks.size(), 5U);
  for (std::size_t i = 1; i < checks.size(); ++i) {
    EXPECT_GE(checks[i][0].as<double>() - checks[i - 1][0].as<double>(), 0.999)
        << "checks " << i - 1 << " and " << i << " fired within one interval";
  }
  // One job and one discovery command per check, all for this subscription.
  EXPECT_EQ(Count("SELECT count(DISTINCT job_id) FROM subscription_checks"),
            static_cast<int>(checks.size()));
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE options->>'subscription_id' = '" + id + "'"),
            static_cast<int>(checks.size()));
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE routing_key = 'subs.discovery'"),
            static_cast<int>(checks.size()));
  EXPECT_EQ(Count("SELECT checks FROM subscriptions WHERE id = '" + id + "'"),
            static_cast<int>(checks.size()));
}

TEST_F(SubscriptionsTest, MissedChecksRunOnceAndNoneWhileAJobRuns) {
  const std::string id = Subscribe(3600);
  Query("UPDATE subscriptions SET next_check_at = now() - interval '3 days' WHERE id = '" + id +
        "'");
  pg::ConnectionPool pool(pg_, 2);
  const auto txn = Runner(pool);
  int expected = 1;  // the first tick runs the missed check, the next ones find it not due
  for (const char* name : {"a", "b", "a"}) {
    auto n = CheckDueSubscriptions(txn, kPrefix, name);
    ASSERT_TRUE(n.ok()) << n.error().ToString();
    EXPECT_EQ(*n, expected) << name;
    expected = 0;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM subscription_checks"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM subscriptions WHERE next_check_at > now() + "
                  "interval '59 minutes'"),
            1);
  // Due again while its job is still queued: no second check until the job ends.
  Query("UPDATE subscriptions SET next_check_at = now() - interval '1 second'");
  auto n = CheckDueSubscriptions(txn, kPrefix, "a");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
  Query("UPDATE jobs SET state = 'completed', finished_at = now()");
  n = CheckDueSubscriptions(txn, kPrefix, "a");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  // Another deployment's scheduler (another QUEUE_PREFIX) never checks it; paused ones wait.
  Query("UPDATE jobs SET state = 'completed', finished_at = now()");
  Query("UPDATE subscriptions SET next_check_at = now() - interval '1 second'");
  n = CheckDueSubscriptions(txn, "other.", "c");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
  Query("UPDATE subscriptions SET paused = true");
  n = CheckDueSubscriptions(txn, kPrefix, "a");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
}

// Runs discovery's record of `job_id` with `videos` listed, as the discovery stage does.
pipeline::VideoWork Discover(pqxx::connection& conn, const std::string& job_id,
                             std::vector<store::DiscoveredVideo> videos) {
  pipeline::VideoWork w;
  w.cmd = protocol::NewCommand(protocol::Stage::kDiscovery, job_id, "", "t", json::object());
  {
    pqxx::work txn(conn);
    w.claim = pipeline::ClaimDiscovery(txn, job_id, "worker", 60);
    txn.commit();
  }
  pipeline::StageOutput out;
  out.discovered = std::move(videos);
  w.result = Result<pipeline::StageOutput>(std::move(out));
  pqxx::work txn(conn);
  pipeline::Effects effects(kPrefix);
  EXPECT_TRUE(pipeline::RecordDiscovery(txn, effects, pipeline::RetryPolicy{}, "worker", w));
  effects.Flush(txn);
  txn.commit();
  return w;
}

store::DiscoveredVideo Video(const std::string& id, const std::string& reuse = "") {
  store::DiscoveredVideo v;
  v.video_id = id;
  v.title = id;
  v.url = "https://example.org/" + id + ".mp4";
  v.reuse_reason = reuse;
  return v;
}

TEST_F(SubscriptionsTest, ACheckKeepsItsJobOnlyForNewVideos) {
  const std::string id = Subscribe(1);
  pg::ConnectionPool pool(pg_, 2);
  const auto txn = Runner(pool);
  auto job_of_last_check = [&] {
    return Query("SELECT job_id::text FROM subscription_checks ORDER BY started_at DESC LIMIT 1")
        [0][0]
            .as<std::string>();
  };
  auto wait_due = [&] {
    Query("UPDATE subscriptions SET next_check_at = now()");
    auto n = CheckDueSubscriptions(txn, kPrefix, "a");
    ASSERT_TRUE(n.ok());
    ASSERT_EQ(*n, 1);
  };
  // 1. Two new videos: the job is kept with both; one then fails.
  wait_due();
  const auto first = job_of_last_check();
  auto w = Discover(*conn_, first, {Video("a"), Video("gone")});
  EXPECT_STREQ(w.kind, "done");
  EXPECT_EQ(Count("SELECT count(*) FROM videos WHERE job_id = '" + first + "'"), 2);
  Query("UPDATE videos SET state = 'failed' WHERE video_id = 'gone'");
  Query("UPDATE videos SET state = 'done' WHERE video_id = 'a'");
  Query("UPDATE jobs SET state = 'completed_with_errors', finished_at = now()");
  // 2. Nothing new ("a" processed, "gone" failed before): the job is deleted, the check says so.
  wait_due();
  const auto second = job_of_last_check();
  w = Discover(*conn_, second, {Video("a", "already processed"), Video("gone")});
  EXPECT_EQ(w.summary, "subscription check: no new video among 2, no job kept");
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE id = '" + second + "'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM videos WHERE job_id = '" + second + "'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE routing_key = 'subs.download'"), 2);
  auto state = Query(
      "SELECT state, new_videos, job_id IS NULL FROM subscription_checks "
      "ORDER BY started_at DESC LIMIT 1");
  EXPECT_EQ(state[0][0].as<std::string>(), "no_new_videos");
  EXPECT_EQ(state[0][1].as<int>(), 0);
  EXPECT_TRUE(state[0][2].as<bool>());
  // 3. A new upload: the job is kept, only the new video is downloaded.
  wait_due();
  const auto third = job_of_last_check();
  w = Discover(*conn_, third, {Video("new"), Video("a", "already processed"), Video("gone")});
  EXPECT_STREQ(w.kind, "done");
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE routing_key = 'subs.download'"), 3);
  EXPECT_EQ(Query("SELECT skip_reason FROM videos WHERE job_id = '" + third +
                  "' AND video_id = 'gone'")[0][0]
                .as<std::string>(),
            "failed in an earlier subscription check");
  state = Query("SELECT state, new_videos FROM subscription_checks WHERE job_id = '" + third + "'");
  EXPECT_EQ(state[0][0].as<std::string>(), "job_started");
  EXPECT_EQ(state[0][1].as<int>(), 1);

  // The view through the routes.
  ApiDeps deps;
  deps.txn = txn;
  deps.queue_prefix = kPrefix;
  deps.subscription_min_every_s = 1;
  httplib::Server server;
  RegisterSubscriptionRoutes(server, deps);
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  for (int i = 0; i < 500 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  httplib::Client client("127.0.0.1", port);
  auto r = client.Get("/subscriptions/" + id);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto view = json::parse(r->body);
  EXPECT_EQ(view.at("checks"), 3);
  ASSERT_EQ(view.at("jobs").size(), 2U) << view.dump(2);
  EXPECT_EQ(view.at("jobs")[0].at("job_id"), third);
  EXPECT_EQ(view.at("jobs")[1].at("job_id"), first);
  EXPECT_EQ(view.at("last_check").at("state"), "job_started");
  EXPECT_EQ(view.at("recent_checks")[1].at("state"), "no_new_videos");
  EXPECT_TRUE(view.at("last_error").is_null());
  // A discovery that fails: the check is failed with the error, shown as last_error.
  Query("UPDATE jobs SET state = 'completed', finished_at = now()");
  wait_due();
  const auto fourth = job_of_last_check();
  {
    pipeline::VideoWork fw;
    fw.cmd = protocol::NewCommand(protocol::Stage::kDiscovery, fourth, "", "t", json::object());
    pqxx::work t1(*conn_);
    fw.claim = pipeline::ClaimDiscovery(t1, fourth, "worker", 60);
    t1.commit();
    fw.result = Result<pipeline::StageOutput>(Error::Permanent("not_found", "no such channel"));
    pqxx::work t2(*conn_);
    pipeline::Effects effects(kPrefix);
    EXPECT_TRUE(pipeline::RecordDiscovery(t2, effects, pipeline::RetryPolicy{}, "worker", fw));
    effects.Flush(t2);
    t2.commit();
  }
  r = client.Get("/subscriptions/" + id);
  ASSERT_TRUE(r);
  const auto failed = json::parse(r->body);
  EXPECT_EQ(failed.at("last_check").at("state"), "failed") << failed.dump(2);
  ASSERT_FALSE(failed.at("last_error").is_null()) << failed.dump(2);
  EXPECT_NE(failed.at("last_error").at("error").get<std::string>().find("no such channel"),
            std::string::npos);
  // PATCH: a bad value changes nothing; a good one is applied.
  auto bad = client.Patch("/subscriptions/" + id, R"({"every": "0s"})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto patched = client.Patch("/subscriptions/" + id, R"({"every": "2h", "keep_days": 7})",
                              "application/json");
  ASSERT_TRUE(patched);
  ASSERT_EQ(patched->status, 200) << patched->body;
  EXPECT_EQ(json::parse(patched->body).at("every"), "2h");
  EXPECT_EQ(json::parse(patched->body).at("keep_days"), 7);
  auto missing = client.Get("/subscriptions/" + NewUuid());
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto not_uuid = client.Delete("/subscriptions/nope");
  ASSERT_TRUE(not_uuid);
  EXPECT_EQ(not_uuid->status, 400);
  server.stop();
  serving.join();
}

// §3 retention: only documents of videos that every live row leaves to an expired check job of a
// subscription with keep_days are deleted; the rows are marked, and a second round finds nothing.
// Records discovery's `result` of `job_id` (claimed first), as the discovery stage does.
pipeline::VideoWork Record(pqxx::connection& conn, const std::string& job_id,
                           Result<pipeline::StageOutput> result) {
  pipeline::VideoWork w;
  w.cmd = protocol::NewCommand(protocol::Stage::kDiscovery, job_id, "", "t", json::object());
  {
    pqxx::work txn(conn);
    w.claim = pipeline::ClaimDiscovery(txn, job_id, "worker", 60);
    txn.commit();
  }
  w.result = std::move(result);
  pqxx::work txn(conn);
  pipeline::Effects effects(kPrefix);
  EXPECT_TRUE(pipeline::RecordDiscovery(txn, effects, pipeline::RetryPolicy{}, "worker", w));
  effects.Flush(txn);
  txn.commit();
  return w;
}

// Every check that ends writes subscription.checked (issue 15 §1) with its outcome in the same
// transaction: both outbox rows (Kafka keyed by the subscription, the fanout by the type). The
// feed pre-check: the scheduler hands discovery the feed of the channel id in the URL and the ids
// seen last time; a discovery whose feed showed nothing new ends the check `no_new_videos` with
// listing "feed", and the feed's ids and the learnt channel id are stored for the next check.
TEST_F(SubscriptionsTest, ChecksEmitSubscriptionCheckedAndTheFeedDecides) {
  const std::string url = "https://www.youtube.com/channel/UCXuqSBlHAE6Xw-yeJA0Tunw/videos";
  const std::string id = Subscribe(1, url);
  pg::ConnectionPool pool(pg_, 2);
  const auto txn = Runner(pool);
  auto start_check = [&] {
    Query("UPDATE jobs SET state = 'completed', finished_at = now() WHERE finished_at IS NULL");
    Query("UPDATE subscriptions SET next_check_at = now()");
    auto n = CheckDueSubscriptions(txn, kPrefix, "a");
    EXPECT_TRUE(n.ok() && *n == 1);
    return Query("SELECT job_id::text FROM subscription_checks ORDER BY started_at DESC LIMIT 1")
        [0][0]
            .as<std::string>();
  };
  auto events = [&] {
    std::vector<protocol::Event> out;
    for (const auto& row : Query("SELECT payload FROM outbox WHERE destination = 'kafka' AND "
                                 "routing_key = '" +
                                 id + "' ORDER BY id")) {
      auto e = protocol::ParseEvent(row[0].as<std::string>());
      EXPECT_TRUE(e.ok()) << row[0].as<std::string>();
      if (e.ok()) out.push_back(*e);
    }
    EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE destination = 'amqp' AND "
                    "routing_key = 'subscription.checked'"),
              static_cast<int>(out.size()))
        << "each event on the fanout too";
    return out;
  };
  auto command_feed = [&](const std::string& job_id) {
    return json::parse(Query("SELECT options::text FROM jobs WHERE id = '" + job_id + "'")[0][0]
                           .as<std::string>())
        .at("feed");
  };
  auto facts = [](const std::string& listing, json ids) {
    return json{{"listing", listing},
                {"feed_note", listing == "feed" ? "" : "the feed's first read"},
                {"feed_video_ids", std::move(ids)},
                {"channel_id", "UCXuqSBlHAE6Xw-yeJA0Tunw"}};
  };

  // 1. The feed's first read, then the full listing: one new video, a job kept.
  const auto first = start_check();
  auto feed = command_feed(first);
  EXPECT_EQ(feed.at("url"),
            "https://www.youtube.com/feeds/videos.xml?channel_id=UCXuqSBlHAE6Xw-yeJA0Tunw");
  EXPECT_TRUE(feed.at("seen").is_null());
  pipeline::StageOutput listed;
  listed.discovered = {Video("a")};
  listed.check_facts = facts("full", {"a", "b"});
  Record(*conn_, first, std::move(listed));
  auto seen = events();
  ASSERT_EQ(seen.size(), 1U);
  auto checked = protocol::SubscriptionChecked(seen[0]);
  ASSERT_TRUE(checked.has_value());
  EXPECT_EQ(checked->outcome, "new_videos");
  EXPECT_EQ(checked->new_videos, 1);
  EXPECT_EQ(checked->started_job_id, first);
  EXPECT_EQ(checked->listing, "full");
  EXPECT_EQ(seen[0].job_id, first);
  EXPECT_EQ(checked->check_id,
            Query("SELECT id::text FROM subscription_checks WHERE job_id = '" + first + "'")[0][0]
                .as<std::string>());

  // 2. The next check gets the ids; the feed showed nothing new: no listing, no job.
  const auto second = start_check();
  EXPECT_EQ(command_feed(second).at("seen"), json({"a", "b"}));
  pipeline::StageOutput quiet;
  quiet.check_facts = facts("feed", {"a", "b"});
  auto w = Record(*conn_, second, std::move(quiet));
  EXPECT_EQ(w.summary, "subscription check: the feed shows nothing new, no listing, no job");
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE id = '" + second + "'"), 0);
  auto row = Query(
      "SELECT state, listing, feed_note IS NULL FROM subscription_checks "
      "ORDER BY started_at DESC LIMIT 1");
  EXPECT_EQ(row[0][0].as<std::string>(), "no_new_videos");
  EXPECT_EQ(row[0][1].as<std::string>(), "feed");
  EXPECT_TRUE(row[0][2].as<bool>());
  seen = events();
  ASSERT_EQ(seen.size(), 2U);
  checked = protocol::SubscriptionChecked(seen[1]);
  EXPECT_EQ(checked->outcome, "no_new_videos");
  EXPECT_EQ(checked->listing, "feed");
  EXPECT_EQ(checked->started_job_id, "");

  // 3. A listing that fails: the check and its event say failed, with the error.
  const auto third = start_check();
  Record(*conn_, third, Error::Permanent("not_found", "no such channel"));
  seen = events();
  ASSERT_EQ(seen.size(), 3U);
  checked = protocol::SubscriptionChecked(seen[2]);
  EXPECT_EQ(checked->outcome, "failed");
  EXPECT_NE(checked->error.find("no such channel"), std::string::npos) << checked->error;
  EXPECT_EQ(checked->started_job_id, "");

  // 4. A check whose discovery worker died for good: the sweeper fails the job, and the check
  // and its event say failed too (not a check left "running").
  const auto fourth = start_check();
  Query(
      "UPDATE jobs SET state = 'running', lease_owner = 'deadhost:1', lease_expires_at = now() - "
      "interval '1 second', discovery_attempts = 5 WHERE id = '" +
      fourth + "'");
  ReliabilityConfig reliability;
  reliability.queue_prefix = kPrefix;
  reliability.max_attempts = 5;
  EXPECT_EQ(SweepOnce(*conn_, reliability).discovery_failed, 1);
  EXPECT_EQ(Query("SELECT state FROM subscription_checks WHERE job_id = '" + fourth + "'")[0][0]
                .as<std::string>(),
            "failed");
  seen = events();
  ASSERT_EQ(seen.size(), 4U);
  checked = protocol::SubscriptionChecked(seen[3]);
  EXPECT_EQ(checked->outcome, "failed");
  EXPECT_NE(checked->error.find("lease expired"), std::string::npos) << checked->error;

  // A handle URL: no feed until a full listing named the channel id; then its feed.
  const std::string handle = Subscribe(1, "https://www.youtube.com/@LinusTechTips/videos");
  Query("UPDATE subscriptions SET paused = true WHERE id = '" + id + "'");
  const auto listing = start_check();
  feed = command_feed(listing);
  EXPECT_TRUE(feed.at("url").is_null()) << feed;
  pipeline::StageOutput by_handle;
  by_handle.check_facts = {{"listing", "full"},
                           {"feed_note", feed.at("note")},
                           {"feed_video_ids", nullptr},
                           {"channel_id", "UCXuqSBlHAE6Xw-yeJA0Tunw"}};
  Record(*conn_, listing, std::move(by_handle));
  EXPECT_EQ(Query("SELECT channel_id FROM subscriptions WHERE id = '" + handle + "'")[0][0]
                .as<std::string>(),
            "UCXuqSBlHAE6Xw-yeJA0Tunw");
  EXPECT_EQ(command_feed(start_check()).at("url"),
            "https://www.youtube.com/feeds/videos.xml?channel_id=UCXuqSBlHAE6Xw-yeJA0Tunw");
}

TEST_F(SubscriptionsTest, RetentionDeletesOnlyExpiredDocuments) {
  const std::string uri = testing::RequireEnv("MONGO_URI");
  ASSERT_FALSE(uri.empty());
  docstore::DocstoreConfig doc_config;
  doc_config.uri = uri;
  auto docs = docstore::DocStore::Open(doc_config);
  ASSERT_TRUE(docs.ok()) << docs.error().ToString();
  const std::string keeping = Subscribe(3600, "https://example.org/a.xml");
  const std::string forever = Subscribe(3600, "https://example.org/b.xml");
  Query("UPDATE subscriptions SET options = options || '{\"keep_days\": 1}' WHERE id = '" +
        keeping + "'");
  // A job finished `age` ago, started by a check of `sub` ("" = an ordinary job), with `videos`
  // done.
  auto job = [&](const std::string& sub, const std::string& age,
                 const std::vector<std::string>& videos) {
    const std::string id = NewUuid();
    Query("INSERT INTO jobs (id, channel, channel_url, state, trace_id, finished_at) VALUES ('" +
          id + "', 'c', 'c', 'completed', 't', now() - interval '" + age + "')");
    for (std::size_t i = 0; i < videos.size(); ++i) {
      Query("INSERT INTO videos (job_id, video_id, position, url, state, stage) VALUES ('" + id +
            "', '" + videos[i] + "', " + std::to_string(i) +
            ", 'http://x', 'done', 'summarization')");
    }
    if (!sub.empty()) {
      Query(
          "INSERT INTO subscription_checks (id, subscription_id, job_id, checked_by, state) "
          "VALUES ('" +
          NewUuid() + "', '" + sub + "', '" + id + "', 't', 'job_started')");
    }
  };
  const std::string tag = "-" + testing::RandomName();  // ids of this run only
  const std::vector<std::string> all = {"old" + tag, "shared" + tag, "recent" + tag,
                                        "kept-forever" + tag};
  job(keeping, "3 days", {all[0], all[1]});
  job("", "3 days", {all[1]});        // an ordinary job keeps "shared" forever
  job(keeping, "1 hour", {all[2]});   // not expired yet
  job(forever, "30 days", {all[3]});  // no keep_days
  for (const auto& v : all) {
    for (const char* c : {protocol::kTranscriptsCollection, protocol::kSummariesCollection}) {
      ASSERT_TRUE((*docs)->Upsert(c, v, {{"text", v}}).ok());
    }
  }
  pg::ConnectionPool pool(pg_, 1);
  const auto txn = Runner(pool);
  auto expired = ExpireSubscriptionDocuments(txn, **docs);
  ASSERT_TRUE(expired.ok()) << expired.error().ToString();
  EXPECT_EQ(*expired, 1);
  for (const auto& v : all) {
    for (const char* c : {protocol::kTranscriptsCollection, protocol::kSummariesCollection}) {
      auto got = (*docs)->Get(c, v);
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(got->has_value(), v != all[0]) << c << " " << v;
    }
  }
  EXPECT_EQ(Count("SELECT count(*) FROM videos WHERE documents_deleted_at IS NOT NULL"), 1);
  expired = ExpireSubscriptionDocuments(txn, **docs);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, 0);
  // The next check of that subscription does not take the expired video as new.
  auto started = CheckDueSubscriptions(txn, kPrefix, "a");
  ASSERT_TRUE(started.ok());
  const auto check_job = Query(
      "SELECT job_id::text FROM subscription_checks WHERE state = 'running' AND "
      "subscription_id = '" +
      keeping + "'");
  ASSERT_EQ(check_job.size(), 1U);
  auto w = Discover(*conn_, check_job[0][0].as<std::string>(), {Video(all[0])});
  EXPECT_EQ(w.summary, "subscription check: no new video among 1, no job kept");
  for (const auto& v : all) {  // the stack's database may be shared: only this test's documents
    for (const char* c : {protocol::kTranscriptsCollection, protocol::kSummariesCollection}) {
      EXPECT_TRUE((*docs)->Delete(c, v).ok());
    }
  }
}

}  // namespace
}  // namespace chansum::orchestrator
