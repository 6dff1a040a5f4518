// The orchestrator's reliability functions against a real PostgreSQL (a private schema per test):
// the lease sweeper, the dead-letter recorder and the job retry, plus their HTTP routes.
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "chansum/cli/cli.hpp"
#include "chansum/common/ids.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/store/store.hpp"
#include "chansum/testing/pg_schema.hpp"
#include "chansum/testing/support.hpp"
#include "src/api.hpp"
#include "src/reliability.hpp"

namespace chansum::orchestrator {
namespace {

using protocol::Stage;

class ReliabilityTest : public testing::SchemaFixture {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    config_.queue_prefix = "rel-" + testing::RandomName() + ".";
    config_.max_attempts = 3;
    job_id_ = NewJob();
  }

  std::string NewJob() {
    pqxx::work txn(*conn_);
    store::NewJob job;
    job.id = NewUuid();
    job.channel = "@demo";
    job.channel_url = "http://127.0.0.1:1/demo/feed.xml";
    job.options = {{"max_videos", 7},
                   {"published_after", "2024-05-01"},
                   {"max_duration_s", 600.5},
                   {"caption_languages", {"de", "en"}}};
    job.trace_id = "trace-" + job.id;
    store::InsertJob(txn, job);
    txn.commit();
    return job.id;
  }

  void Exec(const std::string& sql) {
    pqxx::work txn(*conn_);
    txn.exec(sql);
    txn.commit();
  }

  // A discovered job with videos in the given (stage, state, attempts, lease offset seconds).
  void AddVideo(const std::string& job, const std::string& video, const std::string& stage,
                const std::string& state, int attempts, int lease_offset_s) {
    Exec(
        "UPDATE jobs SET state = 'running', started_at = now(), video_count = "
        "coalesce(video_count, 0) + 1 WHERE id = '" +
        job + "'");
    Exec(
        "INSERT INTO videos (job_id, video_id, position, title, url, stage, state, attempts, "
        "media_path, audio_path, lease_owner, lease_expires_at) VALUES ('" +
        job + "', '" + video + "', 0, 'T " + video + "', 'http://x/" + video + "', '" + stage +
        "', '" + state + "', " + std::to_string(attempts) + ", '/m/" + video + ".mp4', '/m/" +
        video + ".wav', 'deadhost:1', now() + make_interval(secs => " +
        std::to_string(lease_offset_s) + "))");
  }

  std::string Field(const std::string& sql) const {
    auto r = Query(sql);
    return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].as<std::string>();
  }

  // Commands in the outbox for `queue`, parsed.
  std::vector<protocol::Command> Commands(const std::string& queue) const {
    std::vector<protocol::Command> out;
    for (const auto& r : Query("SELECT payload FROM outbox WHERE destination = 'amqp' AND "
                               "exchange = '' AND routing_key = '" +
                               queue + "' ORDER BY id")) {
      auto c = protocol::ParseCommand(r[0].as<std::string>());
      EXPECT_TRUE(c.ok()) << r[0].as<std::string>();
      if (c.ok()) out.push_back(*c);
    }
    return out;
  }

  std::vector<protocol::Event> Events(protocol::EventType type) const {
    std::vector<protocol::Event> out;
    for (const auto& r : Query(
             "SELECT payload FROM outbox WHERE destination = 'kafka' AND exchange = '" +
             config_.queue_prefix + std::string(protocol::EventTypeName(type)) + "' ORDER BY id")) {
      auto e = protocol::ParseEvent(r[0].as<std::string>());
      EXPECT_TRUE(e.ok()) << r[0].as<std::string>();
      if (e.ok()) out.push_back(*e);
    }
    return out;
  }

  std::string Queue(Stage s) const { return protocol::QueueName(config_.queue_prefix, s); }

  ReliabilityConfig config_;
  std::string job_id_;
};

TEST_F(ReliabilityTest, SweeperRequeuesExpiredVideoAndLeavesLiveLeasesAlone) {
  AddVideo(job_id_, "dead", "transcription", "running", 1, -5);  // worker died
  AddVideo(job_id_, "live", "transcription", "running", 1, 60);  // worker renewing
  AddVideo(job_id_, "idle", "download", "pending", 0, -5);       // not running: not ours
  auto result = SweepOnce(*conn_, config_);
  EXPECT_EQ(result.requeued, 1);
  EXPECT_EQ(result.failed, 0);

  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'dead'"), "pending");
  EXPECT_EQ(Field("SELECT lease_owner FROM videos WHERE video_id = 'dead'"), "");
  EXPECT_NE(Field("SELECT last_error FROM videos WHERE video_id = 'dead'").find("lease expired"),
            std::string::npos);
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'live'"), "running");
  auto cmds = Commands(Queue(Stage::kTranscription));
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].video_id, "dead");
  EXPECT_EQ(cmds[0].job_id, job_id_);
  EXPECT_EQ(cmds[0].attempt, 2);
  EXPECT_EQ(cmds[0].data["audio_path"], "/m/dead.wav");
  EXPECT_EQ(cmds[0].trace_id, "trace-" + job_id_);

  // Nothing left to sweep: a second round changes nothing.
  EXPECT_EQ(SweepOnce(*conn_, config_).total(), 0);
  EXPECT_EQ(Commands(Queue(Stage::kTranscription)).size(), 1u);
}

TEST_F(ReliabilityTest, SweeperFailsVideoOutOfAttemptsAndFinishesTheJob) {
  AddVideo(job_id_, "v1", "download", "done", 1, 0);
  Exec("UPDATE videos SET stage = 'summarization', state = 'done' WHERE video_id = 'v1'");
  AddVideo(job_id_, "v2", "audio_extraction", "running", 3, -1);  // 3 of 3 attempts used
  auto result = SweepOnce(*conn_, config_);
  EXPECT_EQ(result.failed, 1);
  EXPECT_EQ(result.requeued, 0);
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'v2'"), "failed");
  EXPECT_EQ(Field("SELECT error_class FROM videos WHERE video_id = 'v2'"), "transient");
  EXPECT_NE(Field("SELECT last_error FROM videos WHERE video_id = 'v2'").find("lease expired"),
            std::string::npos);
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "completed_with_errors");
  auto failed = Events(protocol::EventType::kVideoFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].data["error_code"], "lease_expired");
  EXPECT_EQ(failed[0].data["stage"], "audio_extraction");
  EXPECT_EQ(failed[0].data["attempts"], 3);
  auto completed = Events(protocol::EventType::kJobCompleted);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0].data["state"], "completed_with_errors");
  EXPECT_TRUE(Commands(Queue(Stage::kAudioExtraction)).empty());
}

TEST_F(ReliabilityTest, SweeperLeavesVideosOfEndedJobsAlone) {
  // A worker died mid-stage, then the job ended (cancelled, or failed/finished otherwise): its
  // expired lease must not bring the video back to life.
  for (const std::string state : {"cancelled", "failed", "completed", "completed_with_errors"}) {
    const auto job = NewJob();
    AddVideo(job, "v-" + state, "transcription", "running", 1, -5);
    Exec("UPDATE jobs SET state = '" + state + "', finished_at = now() WHERE id = '" + job + "'");
  }
  AddVideo(job_id_, "v-running", "transcription", "running", 1, -5);  // control: still swept
  auto result = SweepOnce(*conn_, config_);
  EXPECT_EQ(result.requeued, 1);
  EXPECT_EQ(result.failed, 0);
  auto cmds = Commands(Queue(Stage::kTranscription));
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].video_id, "v-running");
  EXPECT_EQ(Field("SELECT count(*) FROM videos WHERE video_id LIKE 'v-%' AND video_id <> "
                  "'v-running' AND state = 'running'"),
            "4");
  EXPECT_EQ(SweepOnce(*conn_, config_).total(), 0);
  EXPECT_TRUE(Events(protocol::EventType::kVideoFailed).empty());
}

TEST_F(ReliabilityTest, SweeperRequeuesAndEventuallyFailsStuckDiscovery) {
  auto leased = [&](int attempts) {
    Exec(
        "UPDATE jobs SET state = 'running', lease_owner = 'deadhost:1', lease_expires_at = "
        "now() - interval '1 second', discovery_attempts = " +
        std::to_string(attempts) + " WHERE id = '" + job_id_ + "'");
  };
  leased(1);
  auto result = SweepOnce(*conn_, config_);
  EXPECT_EQ(result.discovery_requeued, 1);
  auto cmds = Commands(Queue(Stage::kDiscovery));
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].attempt, 2);
  EXPECT_EQ(cmds[0].data["channel_url"], "http://127.0.0.1:1/demo/feed.xml");
  EXPECT_EQ(cmds[0].data["max_videos"], 7);
  EXPECT_EQ(cmds[0].data["published_after"], "2024-05-01") << "the sweeper keeps the filters";
  EXPECT_EQ(cmds[0].data["max_duration_s"], 600.5);
  EXPECT_EQ(cmds[0].data["caption_languages"], nlohmann::json({"de", "en"}));
  EXPECT_EQ(Field("SELECT lease_expires_at FROM jobs WHERE id = '" + job_id_ + "'"), "");
  EXPECT_EQ(SweepOnce(*conn_, config_).total(), 0) << "a requeued discovery is not swept again";

  leased(3);
  result = SweepOnce(*conn_, config_);
  EXPECT_EQ(result.discovery_failed, 1);
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "failed");
  EXPECT_NE(Field("SELECT error FROM jobs WHERE id = '" + job_id_ + "'").find("lease expired"),
            std::string::npos);
  EXPECT_EQ(Events(protocol::EventType::kJobCompleted).size(), 1u);
}

TEST_F(ReliabilityTest, TwoSweepersNeverTakeTheSameRow) {
  AddVideo(job_id_, "dead", "download", "running", 1, -5);
  auto other = Open();
  pqxx::work holding(*other);
  // Another orchestrator's sweep holds the row (same query, transaction still open).
  auto taken = holding.exec(
      "SELECT video_id FROM videos WHERE state = 'running' AND lease_expires_at < now() "
      "FOR UPDATE SKIP LOCKED");
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(SweepOnce(*conn_, config_).total(), 0)
      << "the locked row must be skipped, not waited on";
  holding.abort();
  EXPECT_EQ(SweepOnce(*conn_, config_).requeued, 1);
}

// ---------------------------------------------------------------- the watchdog (lost commands)

TEST_F(ReliabilityTest, WatchdogReenqueuesAPendingVideoWhoseCommandWasLost) {
  config_.stuck_after = std::chrono::minutes(10);
  // Its delayed retry was purged from transcription.retry 20 minutes ago; the stage is quiet.
  AddVideo(job_id_, "lost", "transcription", "pending", 1, -1200);
  Exec("UPDATE videos SET updated_at = now() - interval '20 minutes' WHERE video_id = 'lost'");
  // Waiting for a minute: within the deadline, left alone.
  AddVideo(job_id_, "fresh", "summarization", "pending", 0, -60);
  Exec("UPDATE videos SET updated_at = now() - interval '1 minute' WHERE video_id = 'fresh'");
  // A video of a cancelled job: never brought back.
  const auto cancelled = NewJob();
  AddVideo(cancelled, "gone", "transcription", "pending", 0, -1200);
  Exec("UPDATE videos SET updated_at = now() - interval '20 minutes' WHERE video_id = 'gone'");
  Exec("UPDATE jobs SET state = 'cancelled' WHERE id = '" + cancelled + "'");

  EXPECT_EQ(SweepOnce(*conn_, config_).total(), 0) << "no lease expired: not the sweeper's";
  auto result = WatchOnce(*conn_, config_);
  EXPECT_EQ(result.requeued, 1);
  EXPECT_EQ(result.failed, 0);
  EXPECT_EQ(result.discovery_requeued, 0);
  auto cmds = Commands(Queue(Stage::kTranscription));
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].video_id, "lost");
  EXPECT_EQ(cmds[0].job_id, job_id_);
  EXPECT_EQ(cmds[0].trace_id, "trace-" + job_id_);
  EXPECT_EQ(cmds[0].data["audio_path"], "/m/lost.wav") << "the stage's data kept";
  EXPECT_EQ(cmds[0].attempt, 3) << "the re-enqueue counted (1 claim + 1), the next claim is 3";
  EXPECT_TRUE(Commands(Queue(Stage::kSummarization)).empty());
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'lost'"), "pending");
  EXPECT_EQ(Field("SELECT attempts FROM videos WHERE video_id = 'lost'"), "2");
  EXPECT_NE(Field("SELECT last_error FROM videos WHERE video_id = 'lost'").find("stuck"),
            std::string::npos);
  EXPECT_EQ(Field("SELECT updated_at > now() - interval '1 minute' FROM videos WHERE video_id = "
                  "'lost'"),
            "t");
  EXPECT_EQ(Field("SELECT attempts FROM videos WHERE video_id = 'fresh'"), "0");
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'gone'"), "pending");

  // The re-enqueue is progress: the next round leaves it alone until the deadline passes again.
  EXPECT_EQ(WatchOnce(*conn_, config_).total(), 0);
  EXPECT_EQ(Commands(Queue(Stage::kTranscription)).size(), 1u);
  // A download command rebuilt from the row keeps url and title.
  AddVideo(job_id_, "dl", "download", "pending", 0, -1200);
  Exec("UPDATE videos SET updated_at = now() - interval '11 minutes' WHERE video_id = 'dl'");
  EXPECT_EQ(WatchOnce(*conn_, config_).requeued, 1);
  auto downloads = Commands(Queue(Stage::kDownload));
  ASSERT_EQ(downloads.size(), 1u);
  EXPECT_EQ(downloads[0].data["url"], "http://x/dl");
  EXPECT_EQ(downloads[0].data["title"], "T dl");
}

TEST_F(ReliabilityTest, WatchdogLeavesPendingVideosAloneWhileTheirStageMakesProgress) {
  config_.stuck_after = std::chrono::minutes(10);
  // A long transcription queue: this video has waited 20 minutes behind others, but the stage
  // claimed a video 2 minutes ago, so the queue is moving.
  AddVideo(job_id_, "waiting", "transcription", "pending", 0, -1200);
  Exec("UPDATE videos SET updated_at = now() - interval '20 minutes' WHERE video_id = 'waiting'");
  AddVideo(job_id_, "moved", "summarization", "pending", 0, -1200);
  Exec(
      "UPDATE videos SET updated_at = now() - interval '1 minute', timings = jsonb_build_object("
      "'transcription', jsonb_build_object('started_at', to_char((now() - interval '2 minutes') "
      "AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))) WHERE video_id = 'moved'");
  EXPECT_EQ(WatchOnce(*conn_, config_).total(), 0);

  // Both workers busy with a long item for 30 minutes (their leases live): still moving.
  Exec("UPDATE videos SET timings = '{}' WHERE video_id = 'moved'");
  AddVideo(job_id_, "long", "transcription", "running", 1, 60);
  Exec("UPDATE videos SET updated_at = now() - interval '30 minutes' WHERE video_id = 'long'");
  EXPECT_EQ(WatchOnce(*conn_, config_).total(), 0);
  EXPECT_TRUE(Commands(Queue(Stage::kTranscription)).empty());

  // The stage went quiet: now the waiting video's command is taken for lost.
  Exec("UPDATE videos SET state = 'done', stage = 'summarization' WHERE video_id = 'long'");
  EXPECT_EQ(WatchOnce(*conn_, config_).requeued, 1);
  auto cmds = Commands(Queue(Stage::kTranscription));
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].video_id, "waiting");
  EXPECT_EQ(Field("SELECT attempts FROM videos WHERE video_id = 'moved'"), "0");
}

TEST_F(ReliabilityTest, WatchdogFailsAStuckVideoOutOfAttemptsAndTheJobEnds) {
  config_.stuck_after = std::chrono::minutes(10);
  AddVideo(job_id_, "done", "summarization", "done", 1, -1200);
  AddVideo(job_id_, "lost", "download", "pending", 3, -1200);  // 3 of 3 attempts used
  Exec("UPDATE videos SET updated_at = now() - interval '15 minutes'");
  auto result = WatchOnce(*conn_, config_);
  EXPECT_EQ(result.failed, 1);
  EXPECT_EQ(result.requeued, 0);
  EXPECT_TRUE(Commands(Queue(Stage::kDownload)).empty());
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'lost'"), "failed");
  EXPECT_NE(Field("SELECT last_error FROM videos WHERE video_id = 'lost'").find("no progress"),
            std::string::npos);
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "completed_with_errors");
  auto failed = Events(protocol::EventType::kVideoFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].data["error_code"], "stuck");
  EXPECT_EQ(failed[0].data["stage"], "download");
  auto completed = Events(protocol::EventType::kJobCompleted);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0].data["state"], "completed_with_errors");
  EXPECT_EQ(WatchOnce(*conn_, config_).total(), 0);
}

TEST_F(ReliabilityTest, WatchdogReenqueuesALostDiscoveryWithItsFiltersAndEventuallyFailsIt) {
  config_.stuck_after = std::chrono::minutes(10);
  // The fixture's job is queued: its discovery command was purged before any claim.
  Exec("UPDATE jobs SET updated_at = now() - interval '20 minutes' WHERE id = '" + job_id_ + "'");
  // A job still within the deadline: left alone.
  const auto fresh = NewJob();
  Exec("UPDATE jobs SET updated_at = now() - interval '2 minutes' WHERE id = '" + fresh + "'");
  auto result = WatchOnce(*conn_, config_);
  EXPECT_EQ(result.discovery_requeued, 1);
  auto cmds = Commands(Queue(Stage::kDiscovery));
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].job_id, job_id_);
  EXPECT_EQ(cmds[0].data["channel_url"], "http://127.0.0.1:1/demo/feed.xml");
  EXPECT_EQ(cmds[0].data["max_videos"], 7);
  EXPECT_EQ(cmds[0].data["published_after"], "2024-05-01");
  EXPECT_EQ(cmds[0].data["max_duration_s"], 600.5);
  EXPECT_EQ(cmds[0].data["caption_languages"], nlohmann::json({"de", "en"}));
  EXPECT_EQ(cmds[0].attempt, 2);
  EXPECT_EQ(Field("SELECT discovery_attempts FROM jobs WHERE id = '" + job_id_ + "'"), "1");
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "queued");
  EXPECT_EQ(WatchOnce(*conn_, config_).total(), 0) << "re-enqueued: not again before the deadline";

  // Discovery ran, failed transiently and released its lease for a delayed retry that was lost.
  Exec(
      "UPDATE jobs SET state = 'running', started_at = now() - interval '30 minutes', "
      "updated_at = now() - interval '20 minutes', lease_owner = NULL, lease_expires_at = NULL, "
      "discovery_attempts = 2 WHERE id = '" +
      job_id_ + "'");
  // Meanwhile another job's discovery runs under a live lease: discovery is busy, so waiting is
  // legitimate (the retry may sit behind it).
  Exec(
      "UPDATE jobs SET state = 'running', lease_owner = 'w:1', lease_expires_at = now() + "
      "interval '1 minute', updated_at = now() - interval '15 minutes' WHERE id = '" +
      fresh + "'");
  EXPECT_EQ(WatchOnce(*conn_, config_).total(), 0);
  Exec(
      "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL WHERE id "
      "= '" +
      fresh + "'");
  EXPECT_EQ(WatchOnce(*conn_, config_).discovery_requeued, 1);
  cmds = Commands(Queue(Stage::kDiscovery));
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[1].data["published_after"], "2024-05-01");
  EXPECT_EQ(cmds[1].attempt, 4);
  EXPECT_EQ(Field("SELECT discovery_attempts FROM jobs WHERE id = '" + job_id_ + "'"), "3");

  // Out of attempts (3 of 3): the job fails with the reason and ends.
  Exec("UPDATE jobs SET updated_at = now() - interval '20 minutes' WHERE id = '" + job_id_ + "'");
  result = WatchOnce(*conn_, config_);
  EXPECT_EQ(result.discovery_failed, 1);
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "failed");
  EXPECT_NE(Field("SELECT error FROM jobs WHERE id = '" + job_id_ + "'").find("no progress"),
            std::string::npos);
  EXPECT_EQ(Events(protocol::EventType::kJobCompleted).size(), 1u);
  EXPECT_EQ(Commands(Queue(Stage::kDiscovery)).size(), 2u);
}

TEST(ReliabilityConfigTest, StuckAfterDefaultsToThirtyMinutes) {
  ReliabilityConfig c;
  EXPECT_EQ(c.stuck_after, std::chrono::minutes(30));
  EXPECT_EQ(c.WatchInterval(), std::chrono::minutes(1));
  c.stuck_after = std::chrono::seconds(3);
  c.sweep_interval = std::chrono::seconds(1);
  EXPECT_EQ(c.WatchInterval(), std::chrono::seconds(1));
}

amqp::Delivery DeadDelivery(const std::string& body, const std::string& message_id) {
  amqp::Delivery d;
  d.body = body;
  d.message_id = message_id;
  d.headers["x-first-death-reason"] = std::string("delivery_limit");
  d.headers["x-first-death-queue"] = std::string("q");
  d.headers["x-delivery-count"] = std::int64_t{10};
  return d;
}

TEST_F(ReliabilityTest, DeadLetterIsRecordedFailsItsVideoOnceAndFinishesTheJob) {
  AddVideo(job_id_, "ok", "summarization", "done", 1, 0);
  AddVideo(job_id_, "poison", "download", "pending", 2, 0);
  Exec("UPDATE videos SET lease_owner = NULL, lease_expires_at = NULL WHERE video_id = 'poison'");
  auto cmd = protocol::NewCommand(Stage::kDownload, job_id_, "poison", "t", {{"url", "http://x"}});
  const auto queue = Queue(Stage::kDownload) + ".dlq";
  auto out = RecordDeadLetter(*conn_, config_, queue,
                              DeadDelivery(protocol::Serialize(cmd), cmd.message_id));
  EXPECT_TRUE(out.recorded);
  EXPECT_TRUE(out.video_failed);
  EXPECT_EQ(out.job_state, "completed_with_errors");
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'poison'"), "failed");
  EXPECT_EQ(Field("SELECT error_class FROM videos WHERE video_id = 'poison'"), "dead_lettered");
  EXPECT_EQ(Field("SELECT count(*) FROM dead_letters"), "1");
  EXPECT_EQ(Field("SELECT reason FROM dead_letters").rfind("delivery_limit", 0), 0u);
  EXPECT_EQ(Field("SELECT job_id::text || '/' || video_id || '/' || stage FROM dead_letters"),
            job_id_ + "/poison/download");
  EXPECT_EQ(Field("SELECT headers->>'x-delivery-count' FROM dead_letters"), "10");
  ASSERT_EQ(Events(protocol::EventType::kVideoFailed).size(), 1u);
  EXPECT_EQ(Events(protocol::EventType::kVideoFailed)[0].data["error_code"], "dead_lettered");
  EXPECT_EQ(Events(protocol::EventType::kJobCompleted).size(), 1u);

  // The same message again (the consumer died before its ack): nothing new.
  out = RecordDeadLetter(*conn_, config_, queue,
                         DeadDelivery(protocol::Serialize(cmd), cmd.message_id));
  EXPECT_FALSE(out.recorded);
  EXPECT_EQ(Field("SELECT count(*) FROM dead_letters"), "1");
  EXPECT_EQ(Events(protocol::EventType::kVideoFailed).size(), 1u);
}

TEST_F(ReliabilityTest, DeadLetterLeavesLiveWorkAndMalformedIdsAlone) {
  AddVideo(job_id_, "busy", "download", "running", 1, 60);  // another copy is being worked on
  const auto queue = Queue(Stage::kDownload) + ".dlq";
  auto cmd = protocol::NewCommand(Stage::kDownload, job_id_, "busy", "t", {{"url", "http://x"}});
  auto out = RecordDeadLetter(*conn_, config_, queue,
                              DeadDelivery(protocol::Serialize(cmd), cmd.message_id));
  EXPECT_TRUE(out.recorded);
  EXPECT_FALSE(out.video_failed);
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'busy'"), "running");

  // Malformed (not a valid command), but naming the video: recorded, the video is untouched.
  amqp::Delivery bad;
  bad.body = R"({"job_id": ")" + job_id_ + R"(", "video_id": "busy", "type": "nonsense"})";
  bad.headers["x-chansum-reason"] = std::string("command.type is unknown");
  out = RecordDeadLetter(*conn_, config_, queue, bad);
  EXPECT_TRUE(out.recorded);
  EXPECT_FALSE(out.video_failed);
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'busy'"), "running");
  EXPECT_EQ(Field("SELECT reason FROM dead_letters WHERE message_id = '' ORDER BY id LIMIT 1"),
            "malformed: command.type is unknown");
  EXPECT_EQ(
      Field("SELECT job_id::text FROM dead_letters WHERE message_id = '' ORDER BY id LIMIT 1"),
      job_id_);

  // Garbage: recorded with no ids.
  amqp::Delivery junk;
  junk.body = "\x01\x02 not json";
  out = RecordDeadLetter(*conn_, config_, queue, junk);
  EXPECT_TRUE(out.recorded);
  EXPECT_EQ(Field("SELECT count(*) FROM dead_letters WHERE job_id IS NULL"), "1");
}

TEST_F(ReliabilityTest, DeadLetteredDiscoveryFailsTheJob) {
  auto cmd = protocol::NewCommand(Stage::kDiscovery, job_id_, "", "t",
                                  {{"channel_url", "http://x/feed"}, {"max_videos", 2}});
  auto out = RecordDeadLetter(*conn_, config_, Queue(Stage::kDiscovery) + ".dlq",
                              DeadDelivery(protocol::Serialize(cmd), cmd.message_id));
  EXPECT_TRUE(out.job_failed);
  EXPECT_EQ(Field("SELECT state || '/' || error_class FROM jobs WHERE id = '" + job_id_ + "'"),
            "failed/dead_lettered");
}

TEST_F(ReliabilityTest, RetryRequeuesFailedAndDeadLetteredVideos) {
  AddVideo(job_id_, "done", "summarization", "done", 1, 0);
  AddVideo(job_id_, "perm", "audio_extraction", "failed", 1, 0);
  AddVideo(job_id_, "dlq", "transcription", "failed", 4, 0);
  Exec("UPDATE videos SET error_class = 'dead_lettered', last_error = 'x' WHERE video_id = 'dlq'");
  Exec("UPDATE jobs SET state = 'completed_with_errors', finished_at = now() WHERE id = '" +
       job_id_ + "'");
  Exec("INSERT INTO dead_letters (queue, reason, body, job_id, video_id) VALUES ('q', 'r', 'b', '" +
       job_id_ + "', 'dlq')");

  RetryOutcome out;
  {
    pqxx::work txn(*conn_);
    out = RetryJob(txn, config_.queue_prefix, job_id_);
    txn.commit();
  }
  EXPECT_TRUE(out.found);
  EXPECT_TRUE(out.conflict.empty()) << out.conflict;
  EXPECT_EQ(out.requeued, 2);
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "running");
  EXPECT_EQ(Field("SELECT finished_at FROM jobs WHERE id = '" + job_id_ + "'"), "");
  EXPECT_EQ(Field("SELECT string_agg(video_id || ':' || stage || ':' || state || ':' || attempts "
                  "|| ':' || coalesce(error_class, '-'), ',' ORDER BY video_id) FROM videos"),
            "dlq:transcription:pending:0:-,done:summarization:done:1:-,"
            "perm:audio_extraction:pending:0:-");
  auto a = Commands(Queue(Stage::kAudioExtraction));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].video_id, "perm");
  EXPECT_EQ(a[0].data["media_path"], "/m/perm.mp4");
  auto t = Commands(Queue(Stage::kTranscription));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].data["audio_path"], "/m/dlq.wav");
  EXPECT_NE(Field("SELECT replayed_at FROM dead_letters"), "");

  // Nothing failed any more: a second retry is a conflict and writes nothing.
  pqxx::work txn(*conn_);
  out = RetryJob(txn, config_.queue_prefix, job_id_);
  txn.commit();
  EXPECT_TRUE(out.found);
  EXPECT_FALSE(out.conflict.empty());
  EXPECT_EQ(Commands(Queue(Stage::kAudioExtraction)).size(), 1u);
}

TEST_F(ReliabilityTest, RetryOfFailedDiscoveryRunsDiscoveryAgain) {
  Exec("UPDATE jobs SET state = 'failed', error = 'x', error_class = 'transient' WHERE id = '" +
       job_id_ + "'");
  pqxx::work txn(*conn_);
  auto out = RetryJob(txn, config_.queue_prefix, job_id_);
  txn.commit();
  EXPECT_EQ(out.requeued, 1);
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "queued");
  auto cmds = Commands(Queue(Stage::kDiscovery));
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].data["max_videos"], 7);
  EXPECT_EQ(cmds[0].data["published_after"], "2024-05-01") << "a retry keeps the filters";
  EXPECT_EQ(cmds[0].data["max_duration_s"], 600.5);
  EXPECT_EQ(cmds[0].data["caption_languages"], nlohmann::json({"de", "en"}));
}

// The HTTP routes over a pool on the private schema.
class ReliabilityApiTest : public ReliabilityTest {
 protected:
  void SetUp() override {
    ReliabilityTest::SetUp();
    if (HasFatalFailure()) return;
    pool_ = std::make_unique<pg::ConnectionPool>(pg_, 2);
    ApiDeps deps;
    deps.queue_prefix = config_.queue_prefix;
    deps.txn = [this](const std::function<void(pqxx::work&)>& fn) -> Status {
      return pg::WithTransaction(*pool_, [&](pqxx::work& txn) {
        fn(txn);
        return Ok{};
      });
    };
    deps.readiness = [] { return nlohmann::json{{"ready", true}}; };
    RegisterRoutes(server_, deps);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    ASSERT_TRUE(testing::WaitFor([this] { return server_.is_running(); }, std::chrono::seconds(5)));
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
    pool_.reset();
    ReliabilityTest::TearDown();
  }
  httplib::Client Client() const { return httplib::Client("127.0.0.1", port_); }

  std::unique_ptr<pg::ConnectionPool> pool_;
  http::Server server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ReliabilityApiTest, DeadLettersAndRetryThroughTheApi) {
  AddVideo(job_id_, "poison", "download", "pending", 1, 0);
  auto cmd = protocol::NewCommand(Stage::kDownload, job_id_, "poison", "t", {{"url", "http://x"}});
  RecordDeadLetter(*conn_, config_, Queue(Stage::kDownload) + ".dlq",
                   DeadDelivery(protocol::Serialize(cmd), cmd.message_id));
  const std::string other_job = NewJob();
  auto cli = Client();

  auto list = cli.Get(("/dead-letters?job_id=" + job_id_).c_str());
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200) << list->body;
  auto body = nlohmann::json::parse(list->body);
  ASSERT_EQ(body["dead_letters"].size(), 1u);
  EXPECT_EQ(body["dead_letters"][0]["video_id"], "poison");
  EXPECT_EQ(body["dead_letters"][0]["stage"], "download");
  EXPECT_EQ(body["dead_letters"][0]["body"], protocol::Serialize(cmd));
  auto none = cli.Get(("/dead-letters?job_id=" + other_job).c_str());
  ASSERT_TRUE(none);
  EXPECT_EQ(nlohmann::json::parse(none->body)["dead_letters"].size(), 0u);
  auto bad = cli.Get("/dead-letters?job_id=nope");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);

  // GET /jobs/{id} shows the dead-lettered video.
  auto job = cli.Get(("/jobs/" + job_id_).c_str());
  ASSERT_TRUE(job);
  auto view = nlohmann::json::parse(job->body);
  EXPECT_EQ(view["state"], "completed_with_errors");
  EXPECT_EQ(view["videos"][0]["state"], "failed");
  EXPECT_EQ(view["videos"][0]["error_class"], "dead_lettered");

  auto retry = cli.Post(("/jobs/" + job_id_ + "/retry").c_str(), "", "application/json");
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->status, 202) << retry->body;
  EXPECT_EQ(nlohmann::json::parse(retry->body),
            (nlohmann::json{{"job_id", job_id_}, {"requeued", 1}}));
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "running");
  EXPECT_EQ(Commands(Queue(Stage::kDownload)).size(), 1u);

  auto again = cli.Post(("/jobs/" + job_id_ + "/retry").c_str(), "", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
  EXPECT_EQ(nlohmann::json::parse(again->body)["error"]["code"], "nothing_to_retry");

  auto unknown = cli.Post(("/jobs/" + NewUuid() + "/retry").c_str(), "", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);

  Exec("UPDATE jobs SET state = 'cancelled' WHERE id = '" + other_job + "'");
  auto cancelled = cli.Post(("/jobs/" + other_job + "/retry").c_str(), "", "application/json");
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->status, 409);
  EXPECT_EQ(nlohmann::json::parse(cancelled->body)["error"]["code"], "job_cancelled");
}

// `chansum retry <job>` (tools/chansum) against these routes: what the CLI prints and its exit
// codes for a retried job, a job with nothing to retry, a cancelled job and an unknown job.
TEST_F(ReliabilityApiTest, ChansumRetryCommandThroughTheApi) {
  AddVideo(job_id_, "v1", "transcription", "failed", 3, 0);
  AddVideo(job_id_, "v2", "summarization", "done", 1, 0);
  Exec("UPDATE jobs SET state = 'completed_with_errors', finished_at = now() WHERE id = '" +
       job_id_ + "'");
  const cli::Environment env{{"CHANSUM_API", "http://127.0.0.1:" + std::to_string(port_)}};
  auto run = [&](const std::string& job, std::string* out_text, std::string* err_text) {
    std::ostringstream out;
    std::ostringstream err;
    const int rc = cli::Run({"retry", job}, env, out, err, /*interactive=*/false);
    *out_text = out.str();
    *err_text = err.str();
    return rc;
  };
  std::string out;
  std::string err;
  EXPECT_EQ(run(job_id_, &out, &err), cli::kExitOk) << err;
  EXPECT_EQ(out, "job " + job_id_ + ": requeued 1 video\n");
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "running");
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'v1'"), "pending");
  EXPECT_EQ(Field("SELECT attempts FROM videos WHERE video_id = 'v1'"), "0");
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'v2'"), "done");
  auto cmds = Commands(Queue(Stage::kTranscription));
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].video_id, "v1");

  // Nothing failed any more: the API refuses (409), the CLI says why and exits 3.
  EXPECT_EQ(run(job_id_, &out, &err), cli::kExitApiError);
  EXPECT_EQ(out, "");
  EXPECT_NE(err.find("nothing to retry"), std::string::npos) << err;

  const std::string cancelled = NewJob();
  Exec("UPDATE jobs SET state = 'cancelled' WHERE id = '" + cancelled + "'");
  EXPECT_EQ(run(cancelled, &out, &err), cli::kExitApiError);
  EXPECT_NE(err.find("cancelled"), std::string::npos) << err;

  EXPECT_EQ(run(NewUuid(), &out, &err), cli::kExitApiError);
  EXPECT_NE(err.find("no job with id"), std::string::npos) << err;
  EXPECT_EQ(Commands(Queue(Stage::kTranscription)).size(), 1u);  // the refusals wrote nothing
}

}  // namespace
}  // namespace chansum::orchestrator
