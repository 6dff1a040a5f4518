// Batches in the Processor against a real PostgreSQL (private schema): a batch of deliveries is
// claimed and recorded together, a duplicate inside a batch runs once, and a batch whose commit
// fails records nothing and asks for every delivery to be redelivered (nothing acked before its
// commit). Both the short path (claim + handlers + record in one transaction) and the long path
// (claims with leases committed first) are covered.
#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "chansum/common/ids.hpp"
#include "chansum/stage/processor.hpp"
#include "chansum/testing/pg_schema.hpp"

namespace chansum::stage {
namespace {

using protocol::Stage;

class ProcessorBatchTest : public testing::SchemaFixture,
                           public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    prefix_ = "batch-" + testing::RandomName() + ".";
    pqxx::work txn(*conn_);
    job_id_ = InsertDemoJob(txn);
    std::vector<store::DiscoveredVideo> videos;
    for (int i = 0; i < kVideos; ++i) {
      videos.push_back(
          {Id(i), "Video " + std::to_string(i), "http://x/" + Id(i), std::nullopt, "", ""});
    }
    store::RecordDiscovery(txn, job_id_, videos);
    txn.exec("UPDATE jobs SET state = 'running'");
    txn.commit();
  }

  static std::string Id(int i) { return "v" + std::to_string(i); }

  RunnerConfig Config() const {
    RunnerConfig c;
    c.stage = Stage::kDownload;
    c.service = "download";
    c.queue_prefix = prefix_;
    c.short_handler = GetParam();
    c.worker_id = "test:1";
    c.lease_seconds = 60;
    return c;
  }

  std::vector<std::string> Bodies(int n) const {
    std::vector<std::string> bodies;
    for (int i = 0; i < n; ++i) {
      bodies.push_back(protocol::Serialize(protocol::NewCommand(
          Stage::kDownload, job_id_, Id(i), "t", {{"url", "http://x/" + Id(i)}})));
    }
    return bodies;
  }

  Handler Counting() {
    return [this](const protocol::Command& cmd, StageContext&) -> Result<StageOutput> {
      ++runs_;
      StageOutput out;
      out.media_path = "/m/" + cmd.video_id + ".mp4";
      out.next_data = {{"media_path", out.media_path}};
      out.event_data = {{"bytes", 1}};
      return out;
    };
  }

  long Count(const std::string& sql) const { return Query(sql)[0][0].as<long>(); }
  long Downloaded() const {
    return Count(
        "SELECT count(*) FROM videos WHERE stage = 'audio_extraction' AND state = "
        "'pending'");
  }
  long NextCommands() const {
    return Count("SELECT count(*) FROM outbox WHERE routing_key = '" +
                 protocol::QueueName(prefix_, Stage::kAudioExtraction) + "'");
  }
  long DownloadedEvents() const {
    return Count(
        "SELECT count(*) FROM outbox WHERE destination = 'kafka' AND exchange LIKE "
        "'%video.downloaded'");
  }

  static constexpr int kVideos = 12;
  std::string prefix_;
  std::string job_id_;
  std::atomic<int> runs_{0};
};

TEST_P(ProcessorBatchTest, ABatchIsClaimedAndRecordedTogether) {
  const RunnerConfig config = Config();
  Processor processor(config, Counting(), nullptr, [] { return false; });
  auto bodies = Bodies(kVideos);
  bodies.push_back(bodies[3]);  // the same delivery twice in one batch: it runs once
  bodies.push_back("{not json");
  const auto outcomes = processor.ProcessBatch(*conn_, bodies);
  ASSERT_EQ(outcomes.size(), bodies.size());
  for (int i = 0; i < kVideos; ++i) {
    EXPECT_EQ(outcomes[i].disposition, Disposition::kAck) << i << ": " << outcomes[i].summary;
    EXPECT_STREQ(outcomes[i].kind, "done") << i;
  }
  EXPECT_EQ(outcomes[kVideos].disposition, Disposition::kAck);
  EXPECT_STREQ(outcomes[kVideos].kind, "skipped") << outcomes[kVideos].summary;
  EXPECT_STREQ(outcomes[kVideos + 1].kind, "dead_lettered");
  EXPECT_EQ(runs_.load(), kVideos);
  EXPECT_EQ(Downloaded(), kVideos);
  EXPECT_EQ(NextCommands(), kVideos);
  EXPECT_EQ(DownloadedEvents(), kVideos);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE routing_key = '" +
                  protocol::QueueName(prefix_, Stage::kDownload) + ".dlq'"),
            1);
  // Redelivered whole (e.g. the ack was lost): nothing runs or is written again.
  const auto again = processor.ProcessBatch(*conn_, Bodies(kVideos));
  for (const auto& o : again) {
    EXPECT_EQ(o.disposition, Disposition::kAck);
    EXPECT_STREQ(o.kind, "skipped") << o.summary;
  }
  EXPECT_EQ(runs_.load(), kVideos);
  EXPECT_EQ(NextCommands(), kVideos);
}

TEST_P(ProcessorBatchTest, ACommitThatFailsRequeuesTheWholeBatchAndRecordsNothing) {
  // A deferred constraint trigger makes every commit that wrote an outbox row fail AT COMMIT,
  // after the batch's statements all succeeded: the worst moment for an ack to slip out early.
  {
    pqxx::work txn(*conn_);
    FailCommitsThatWriteTheOutbox(txn);
    txn.commit();
  }
  const RunnerConfig config = Config();
  Processor processor(config, Counting(), nullptr, [] { return false; });
  const auto failed = processor.ProcessBatch(*conn_, Bodies(kVideos));
  ASSERT_EQ(failed.size(), static_cast<std::size_t>(kVideos));
  for (const auto& o : failed) {
    EXPECT_EQ(o.disposition, Disposition::kRequeue) << o.summary;
    EXPECT_NE(o.summary.find("commit refused by the test"), std::string::npos) << o.summary;
  }
  EXPECT_EQ(Downloaded(), 0);
  EXPECT_EQ(NextCommands(), 0);
  EXPECT_EQ(DownloadedEvents(), 0);

  // The broker redelivers the batch; with the database accepting commits again it goes through,
  // each video exactly once.
  Query("DELETE FROM fail_commits");
  const auto redelivered = processor.ProcessBatch(*conn_, Bodies(kVideos));
  for (const auto& o : redelivered) {
    EXPECT_EQ(o.disposition, Disposition::kAck) << o.summary;
    EXPECT_STREQ(o.kind, "done") << o.summary;
  }
  EXPECT_EQ(Downloaded(), kVideos);
  EXPECT_EQ(NextCommands(), kVideos);
  EXPECT_EQ(DownloadedEvents(), kVideos);
}

TEST_P(ProcessorBatchTest, FailuresAndRetriesInOneBatch) {
  RunnerConfig config = Config();
  config.max_attempts = 3;
  config.retry_base_delay = std::chrono::milliseconds(10);
  config.retry_max_delay = std::chrono::milliseconds(20);
  Handler mixed = [](const protocol::Command& cmd, StageContext&) -> Result<StageOutput> {
    if (cmd.video_id == "v1") return Error::Transient("timeout", "try again");
    if (cmd.video_id == "v2") return Error::Permanent("video_unavailable", "gone");
    StageOutput out;
    out.media_path = "/m/" + cmd.video_id + ".mp4";
    out.next_data = {{"media_path", out.media_path}};
    return out;
  };
  Processor processor(config, mixed, nullptr, [] { return false; });
  const auto outcomes = processor.ProcessBatch(*conn_, Bodies(4));
  EXPECT_STREQ(outcomes[0].kind, "done");
  EXPECT_STREQ(outcomes[1].kind, "retried") << outcomes[1].summary;
  EXPECT_STREQ(outcomes[2].kind, "failed") << outcomes[2].summary;
  EXPECT_STREQ(outcomes[3].kind, "done");
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE routing_key = '" +
                  protocol::QueueName(prefix_, Stage::kDownload) + ".retry'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM videos WHERE video_id = 'v2' AND state = 'failed' AND "
                  "error_class = 'permanent'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE destination = 'kafka' AND exchange LIKE "
                  "'%video.failed'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM videos WHERE video_id = 'v1' AND state = 'pending' AND "
                  "stage = 'download'"),
            1);
}

TEST_P(ProcessorBatchTest, AHintedRetryIsScheduledAtTheHintNotTheBackoff) {
  RunnerConfig config = Config();
  config.max_attempts = 3;
  config.retry_base_delay = std::chrono::milliseconds(10);
  config.retry_max_delay = std::chrono::milliseconds(20);
  // v0: the host is blocked for 90 s (the hint, wrapped on its way out as a handler would);
  // v1: a plain transient error, retried after the policy's short backoff.
  Handler hinted = [](const protocol::Command& cmd, StageContext&) -> Result<StageOutput> {
    if (cmd.video_id == "v0") {
      return Wrapped(WithRetryAfter(Error::Transient("host_blocked", "media.test is blocked"),
                                    std::chrono::seconds(90)),
                     "download");
    }
    return Error::Transient("timeout", "try again");
  };
  Processor processor(config, hinted, nullptr, [] { return false; });
  const auto outcomes = processor.ProcessBatch(*conn_, Bodies(2));
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_STREQ(outcomes[0].kind, "retried") << outcomes[0].summary;
  EXPECT_STREQ(outcomes[1].kind, "retried") << outcomes[1].summary;
  const auto retries =
      Query("SELECT payload::json->>'video_id', expiration_ms FROM outbox WHERE routing_key = '" +
            protocol::QueueName(prefix_, Stage::kDownload) + ".retry' ORDER BY 1");
  ASSERT_EQ(retries.size(), 2u);
  EXPECT_EQ(retries[0][0].as<std::string>(), "v0");
  EXPECT_EQ(retries[0][1].as<int>(), 90000) << "parked in <queue>.retry for the hinted 90 s";
  EXPECT_EQ(retries[1][0].as<std::string>(), "v1");
  EXPECT_LE(retries[1][1].as<int>(), 20) << "no hint: the policy's backoff";
  // The video's last error is readable and does not spell the hint out twice.
  EXPECT_EQ(Query("SELECT last_error FROM videos WHERE video_id = 'v0'")[0][0].as<std::string>(),
            "download: media.test is blocked");
}

INSTANTIATE_TEST_SUITE_P(ShortAndLong, ProcessorBatchTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? std::string("ShortHandler")
                                                   : std::string("LongHandler");
                         });

}  // namespace
}  // namespace chansum::stage
