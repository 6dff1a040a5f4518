// Leases against a real PostgreSQL (private schema): the LeaseKeeper renews exactly the claims it
// holds, a Processor's claim is renewed while its handler runs, a worker that lost its lease
// cannot record an outcome, and discovery leases its job.
#include <atomic>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "chansum/common/ids.hpp"
#include "chansum/stage/leases.hpp"
#include "chansum/stage/processor.hpp"
#include "chansum/store/reliability.hpp"
#include "chansum/testing/pg_schema.hpp"

namespace chansum::stage {
namespace {

using protocol::Stage;

class LeasesTest : public testing::SchemaFixture {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    pqxx::work txn(*conn_);
    job_id_ = InsertDemoJob(txn);
    store::RecordDiscovery(txn, job_id_,
                           {{"v1", "One", "http://x/1", std::nullopt, "", ""},
                            {"v2", "Two", "http://x/2", std::nullopt, "", ""}});
    txn.exec("UPDATE jobs SET state = 'running'");
    txn.commit();
  }

  // Seconds from now until the video's lease expires (negative: expired).
  double LeaseLeft(const std::string& video) const {
    return Query(
               "SELECT extract(epoch from lease_expires_at - now()) FROM videos WHERE "
               "video_id = '" +
               video + "'")[0][0]
        .as<double>();
  }

  void Claim(const std::string& video, const std::string& worker, int lease_seconds) {
    pqxx::work txn(*conn_);
    auto c = store::BeginVideoStage(txn, job_id_, video, Stage::kDownload, worker, lease_seconds);
    ASSERT_EQ(c.outcome, store::Begin::kProceed);
    txn.commit();
  }

  RunnerConfig Config() const {
    RunnerConfig c;
    c.stage = Stage::kDownload;
    c.service = "download";
    c.queue_prefix = "lease-" + testing::RandomName() + ".";
    c.worker_id = "me:1";
    c.lease_seconds = 2;
    return c;
  }

  std::string job_id_;
};

TEST_F(LeasesTest, KeeperRenewsOnlyWhatItHolds) {
  Claim("v1", "me:1", 1);
  Claim("v2", "other:2", 1);
  LeaseKeeper keeper("me:1", 30);
  keeper.AddVideo(job_id_, "v1");
  keeper.AddVideo(job_id_, "v2");  // held by another worker: not renewed
  EXPECT_EQ(keeper.RenewOnce(*conn_), 1);
  EXPECT_GT(LeaseLeft("v1"), 25.0);
  EXPECT_LT(LeaseLeft("v2"), 1.5);
  keeper.RemoveVideo(job_id_, "v1");
  keeper.RemoveVideo(job_id_, "v2");
  EXPECT_EQ(keeper.Held(), 0);
  EXPECT_EQ(keeper.RenewOnce(*conn_), 0);
  EXPECT_EQ(keeper.Interval(), std::chrono::seconds(10));
}

TEST_F(LeasesTest, ClaimIsRenewedWhileTheHandlerRuns) {
  const RunnerConfig config = Config();  // 2 s lease
  LeaseKeeper keeper(config.worker_id, config.lease_seconds);
  std::atomic<bool> stop{false};
  std::thread renewer([&] {  // what the runner's lease thread does
    auto conn = Open();
    while (!stop) {
      keeper.RenewOnce(*conn);
      std::this_thread::sleep_for(keeper.Interval());
    }
  });
  double left_late_in_handler = -100;
  Handler slow = [&](const protocol::Command&, StageContext&) -> Result<StageOutput> {
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));  // well past the 2 s lease
    left_late_in_handler = LeaseLeft("v1");
    StageOutput out;
    out.next_data = {{"media_path", "/m/v1.mp4"}};
    out.media_path = "/m/v1.mp4";
    return out;
  };
  Processor processor(config, slow, nullptr, [] { return false; });
  processor.SetLeaseKeeper(&keeper);
  auto cmd = protocol::NewCommand(Stage::kDownload, job_id_, "v1", "t", {{"url", "http://x/1"}});
  auto outcome = processor.Process(*conn_, protocol::Serialize(cmd));
  stop = true;
  renewer.join();
  EXPECT_EQ(outcome.disposition, Disposition::kAck);
  EXPECT_GT(left_late_in_handler, 0.0) << "the lease expired while the handler was running";
  EXPECT_EQ(keeper.Held(), 0) << "the claim is released when the handler returns";
  EXPECT_EQ(Query("SELECT stage || '/' || state FROM videos WHERE video_id = 'v1'")[0][0]
                .as<std::string>(),
            "audio_extraction/pending");
}

TEST_F(LeasesTest, WorkerThatLostItsLeaseRecordsNothing) {
  const RunnerConfig config = Config();
  Handler stalls = [&](const protocol::Command&, StageContext&) -> Result<StageOutput> {
    // Meanwhile the sweeper requeued the work and another worker claimed it.
    auto other = Open();
    pqxx::work txn(*other);
    txn.exec("UPDATE videos SET lease_owner = 'other:2' WHERE video_id = 'v1'");
    txn.commit();
    StageOutput out;
    out.next_data = {{"media_path", "/m/v1.mp4"}};
    return out;
  };
  const auto outbox_before = Query("SELECT count(*) FROM outbox")[0][0].as<int>();
  Processor processor(config, stalls, nullptr, [] { return false; });
  auto cmd = protocol::NewCommand(Stage::kDownload, job_id_, "v1", "t", {{"url", "http://x/1"}});
  auto outcome = processor.Process(*conn_, protocol::Serialize(cmd));
  EXPECT_EQ(outcome.disposition, Disposition::kAck);
  EXPECT_NE(outcome.summary.find("no longer holds the lease"), std::string::npos)
      << outcome.summary;
  EXPECT_EQ(Query("SELECT stage || '/' || state || '/' || lease_owner FROM videos WHERE "
                  "video_id = 'v1'")[0][0]
                .as<std::string>(),
            "download/running/other:2");
  EXPECT_EQ(Query("SELECT count(*) FROM outbox")[0][0].as<int>(), outbox_before)
      << "no next command and no event from the worker that lost its lease";
}

TEST_F(LeasesTest, DiscoveryLeasesItsJobAndReleasesItWhenRecorded) {
  // A fresh job (the fixture's one is already discovered).
  std::string job;
  {
    pqxx::work txn(*conn_);
    job = InsertDemoJob(txn);
    txn.commit();
  }
  RunnerConfig config = Config();
  config.stage = Stage::kDiscovery;
  config.job_level = true;
  config.service = "discovery";
  std::string lease_during;
  Handler discover = [&](const protocol::Command&, StageContext&) -> Result<StageOutput> {
    lease_during = Query(
                       "SELECT lease_owner || '/' || discovery_attempts || '/' || "
                       "(lease_expires_at > now()) FROM jobs WHERE id = '" +
                       job + "'")[0][0]
                       .as<std::string>();
    StageOutput out;
    out.discovered = {{"d1", "", "http://x/d1", std::nullopt, "", ""}};
    return out;
  };
  Processor processor(config, discover, nullptr, [] { return false; });
  auto cmd = protocol::NewCommand(Stage::kDiscovery, job, "", "t",
                                  {{"channel_url", "http://x/feed"}, {"max_videos", 2}});
  auto outcome = processor.Process(*conn_, protocol::Serialize(cmd));
  EXPECT_EQ(outcome.disposition, Disposition::kAck) << outcome.summary;
  // Owned by this processor ("<worker id>/<n>"), first claim, live.
  EXPECT_EQ(lease_during.rfind("me:1/", 0), 0u) << lease_during;
  EXPECT_EQ(lease_during.substr(lease_during.size() - 7), "/1/true") << lease_during;
  EXPECT_TRUE(Query("SELECT lease_expires_at FROM jobs WHERE id = '" + job + "'")[0][0].is_null());
}

// The processor's log lines, message text only, for the duration of a test.
class CapturedLog {
 public:
  CapturedLog() : saved_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "captured", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(saved_); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;
  // Lines starting with `prefix`.
  int Count(const std::string& prefix) const {
    std::istringstream lines(out_.str());
    int n = 0;
    for (std::string line; std::getline(lines, line);) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> saved_;
};

TEST_F(LeasesTest, ADeliveryOfWorkLeasedElsewhereRunsNothingUntilTheLeaseExpires) {
  CapturedLog log;             // the handler-run lines the chaos suite counts match the runs
  Claim("v1", "other:2", 60);  // another worker downloads v1 right now
  int runs = 0;
  Handler count = [&](const protocol::Command&, StageContext&) -> Result<StageOutput> {
    ++runs;
    StageOutput out;
    out.next_data = {{"media_path", "/m/v1.mp4"}};
    out.media_path = "/m/v1.mp4";
    return out;
  };
  const RunnerConfig config = Config();
  Processor processor(config, count, nullptr, [] { return false; });
  auto cmd = protocol::NewCommand(Stage::kDownload, job_id_, "v1", "t", {{"url", "http://x/1"}});
  auto outcome = processor.Process(*conn_, protocol::Serialize(cmd));  // e.g. a redelivery
  EXPECT_EQ(outcome.disposition, Disposition::kAck);
  EXPECT_NE(outcome.summary.find("leased_elsewhere"), std::string::npos) << outcome.summary;
  EXPECT_EQ(runs, 0) << "a duplicate delivery ran the handler of work leased elsewhere";
  EXPECT_EQ(Query("SELECT state || '/' || lease_owner || '/' || attempts FROM videos WHERE "
                  "video_id = 'v1'")[0][0]
                .as<std::string>(),
            "running/other:2/1")
      << "the live lease keeps its owner and attempt count";

  // Another thread of this very process holds it: the same.
  Query("UPDATE videos SET lease_owner = 'me:1/999' WHERE video_id = 'v1'");
  outcome = processor.Process(*conn_, protocol::Serialize(cmd));
  EXPECT_EQ(runs, 0) << outcome.summary;

  Query("UPDATE videos SET lease_expires_at = now() - interval '1 second' WHERE video_id = 'v1'");
  EXPECT_EQ(log.Count(kHandlerRunStarted), 0) << "handler-run lines for work not run";
  outcome = processor.Process(*conn_, protocol::Serialize(cmd));  // that worker died
  EXPECT_EQ(runs, 1) << outcome.summary;
  EXPECT_EQ(log.Count(kHandlerRunStarted), 1);
  EXPECT_EQ(log.Count(std::string(kHandlerRunFinished) + "ok in "), 1);
  EXPECT_EQ(Query("SELECT stage || '/' || state FROM videos WHERE video_id = 'v1'")[0][0]
                .as<std::string>(),
            "audio_extraction/pending");
}

TEST_F(LeasesTest, ADuplicateDiscoveryNeitherRunsNorFailsNorGrowsTheJob) {
  std::string job;
  {
    pqxx::work txn(*conn_);
    job = InsertDemoJob(txn);
    txn.commit();
  }
  RunnerConfig config = Config();
  config.stage = Stage::kDiscovery;
  config.job_level = true;
  config.service = "discovery";
  auto cmd = protocol::NewCommand(Stage::kDiscovery, job, "", "t",
                                  {{"channel_url", "http://x/feed"}, {"max_videos", 2}});
  int runs = 0;
  std::function<void()> during = [] {};
  Result<StageOutput> result = Error::Permanent("not_found", "no such channel");
  Handler discover = [&](const protocol::Command&, StageContext&) -> Result<StageOutput> {
    ++runs;
    during();
    return result;
  };
  Processor processor(config, discover, nullptr, [] { return false; });

  // 1. Another worker's discovery of this job is live: a copy of the command runs nothing.
  Query(
      "UPDATE jobs SET state = 'running', lease_owner = 'other:2', lease_expires_at = now() + "
      "interval '60 seconds' WHERE id = '" +
      job + "'");
  auto outcome = processor.Process(*conn_, protocol::Serialize(cmd));
  EXPECT_EQ(outcome.disposition, Disposition::kAck);
  EXPECT_EQ(runs, 0) << outcome.summary;

  // 2. This worker's lease expired and the sweeper gave the job to another worker while the
  // listing ran: neither its failure nor its listing is recorded.
  Query("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = '" + job + "'");
  during = [&] {
    Query(
        "UPDATE jobs SET lease_owner = 'other:2', lease_expires_at = now() + interval '60 "
        "seconds' WHERE id = '" +
        job + "'");
  };
  outcome = processor.Process(*conn_, protocol::Serialize(cmd));
  EXPECT_EQ(runs, 1);
  EXPECT_NE(outcome.summary.find("no longer holds the discovery lease"), std::string::npos)
      << outcome.summary;
  EXPECT_EQ(Query("SELECT state FROM jobs WHERE id = '" + job + "'")[0][0].as<std::string>(),
            "running")
      << "a duplicate discovery failed the job";
  StageOutput listing;
  listing.discovered = {{"d1", "", "http://x/d1", std::nullopt, "", ""},
                        {"d2", "", "http://x/d2", std::nullopt, "", ""}};
  result = listing;
  Query("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = '" + job + "'");
  outcome = processor.Process(*conn_, protocol::Serialize(cmd));
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(Query("SELECT count(*) FROM videos WHERE job_id = '" + job + "'")[0][0].as<int>(), 0)
      << "a duplicate discovery added videos";
}

}  // namespace
}  // namespace chansum::stage
