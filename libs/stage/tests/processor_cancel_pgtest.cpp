// Cancelling a job against a real PostgreSQL (private schema): queued work is skipped, in-flight
// work sees the cancel at its next checkpoint and records nothing, a discovery that finishes after
// the cancel records no videos, finished videos are kept; and the change feed the live stream
// reads gets a row per change, written by the same transaction, carrying a skipped video's reason.
#include <atomic>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "chansum/common/ids.hpp"
#include "chansum/stage/processor.hpp"
#include "chansum/store/live.hpp"
#include "chansum/store/sync.hpp"
#include "chansum/testing/pg_schema.hpp"

namespace chansum::stage {
namespace {

using protocol::Command;
using protocol::Stage;
using Clock = std::chrono::steady_clock;

class ProcessorCancelTest : public testing::SchemaFixture {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    pqxx::work txn(*conn_);
    job_id_ = InsertDemoJob(txn);
    txn.commit();
  }

  void Discover(const std::vector<std::string>& videos) {
    pqxx::work txn(*conn_);
    ASSERT_EQ(store::BeginDiscovery(txn, job_id_, "me:1").outcome, store::Begin::kProceed);
    std::vector<store::DiscoveredVideo> list;
    for (const auto& v : videos) list.push_back({v, "title " + v, "http://x/" + v, {}, "", ""});
    store::RecordDiscovery(txn, job_id_, list);
    txn.commit();
  }

  ProcessOutcome Run(Stage stage, Handler handler, const Command& cmd) {
    RunnerConfig c;
    c.stage = stage;
    c.job_level = stage == Stage::kDiscovery;
    c.service = std::string(protocol::StageName(stage));
    c.queue_prefix = "cancel-test.";
    c.worker_id = "test:1";
    c.lease_seconds = 60;
    Processor processor(c, std::move(handler), nullptr, [] { return false; });
    return processor.Process(*conn_, protocol::Serialize(cmd));
  }

  Command Download(const std::string& video) const {
    return protocol::NewCommand(Stage::kDownload, job_id_, video, "t",
                                {{"url", "http://x/" + video}});
  }

  store::CancelResult Cancel() {
    auto conn = Open();
    pqxx::work txn(*conn);
    auto r = store::CancelJob(txn, job_id_);
    txn.commit();
    return r;
  }

  std::string VideoState(const std::string& video) const {
    auto r =
        Query("SELECT state || '/' || coalesce(last_error, '') FROM videos WHERE video_id = '" +
              video + "'");
    return r.empty() ? "" : r[0][0].as<std::string>();
  }
  std::string JobState() const {
    return Query("SELECT state FROM jobs WHERE id = '" + job_id_ + "'")[0][0].as<std::string>();
  }
  std::int64_t Commands(const std::string& queue) const {
    return Query("SELECT count(*) FROM outbox WHERE routing_key = 'cancel-test." + queue +
                 "'")[0][0]
        .as<std::int64_t>();
  }

  std::string job_id_;
};

TEST_F(ProcessorCancelTest, InFlightWorkStopsAtItsNextCheckpointAndRecordsNothing) {
  Discover({"a", "b"});
  std::atomic<bool> started{false};
  bool saw_cancelled = false;
  Clock::time_point stopped_at;
  Handler slow = [&](const Command&, StageContext& ctx) -> Result<StageOutput> {
    started = true;
    const auto give_up = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < give_up && !ctx.should_stop()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stopped_at = Clock::now();
    saw_cancelled = ctx.cancelled();
    return Error::Transient("interrupted", "stopped");
  };
  ProcessOutcome outcome;
  std::thread worker([&] { outcome = Run(Stage::kDownload, slow, Download("a")); });
  ASSERT_TRUE([&] {
    for (int i = 0; i < 200 && !started; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    return started.load();
  }());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto cancelled_at = Clock::now();
  const auto result = Cancel();
  worker.join();
  EXPECT_EQ(result.outcome, store::CancelOutcome::kCancelled);
  EXPECT_EQ(result.skipped, 2);
  EXPECT_TRUE(saw_cancelled);
  EXPECT_LT(stopped_at - cancelled_at, std::chrono::seconds(3)) << "the handler ran on";
  EXPECT_NE(outcome.summary.find("job cancelled"), std::string::npos) << outcome.summary;
  EXPECT_EQ(outcome.disposition, Disposition::kAck);
  EXPECT_EQ(VideoState("a"), "skipped/cancelled");
  EXPECT_EQ(VideoState("b"), "skipped/cancelled");
  EXPECT_EQ(JobState(), "cancelled");
  EXPECT_EQ(Commands("download.retry"), 0) << "no retry of cancelled work";
  EXPECT_EQ(Commands("audio_extraction"), 0);
}

TEST_F(ProcessorCancelTest, QueuedWorkOfACancelledJobIsSkippedWithoutRunningTheHandler) {
  Discover({"a"});
  ASSERT_EQ(Cancel().outcome, store::CancelOutcome::kCancelled);
  bool ran = false;
  auto outcome = Run(
      Stage::kDownload,
      [&](const Command&, StageContext&) -> Result<StageOutput> {
        ran = true;
        return StageOutput{};
      },
      Download("a"));
  EXPECT_FALSE(ran);
  EXPECT_EQ(outcome.summary, "skipped: job_closed");
  EXPECT_EQ(VideoState("a"), "skipped/cancelled");
  EXPECT_EQ(Commands("audio_extraction"), 0);
}

TEST_F(ProcessorCancelTest, ADiscoveryThatFinishesAfterTheCancelRecordsNoVideos) {
  auto cmd = protocol::NewCommand(Stage::kDiscovery, job_id_, "", "t",
                                  {{"channel_url", "http://x/feed"}, {"max_videos", 5}});
  auto outcome = Run(
      Stage::kDiscovery,
      [&](const Command&, StageContext&) -> Result<StageOutput> {
        EXPECT_EQ(Cancel().outcome, store::CancelOutcome::kCancelled);  // while yt-dlp "runs"
        StageOutput out;
        out.discovered = {{"a", "A", "http://x/a", {}, "", ""},
                          {"b", "B", "http://x/b", {}, "", ""}};
        return out;
      },
      cmd);
  EXPECT_NE(outcome.summary.find("cancelled"), std::string::npos) << outcome.summary;
  EXPECT_EQ(Query("SELECT count(*) FROM videos")[0][0].as<int>(), 0);
  EXPECT_EQ(Commands("download"), 0);
  EXPECT_EQ(JobState(), "cancelled");
}

TEST_F(ProcessorCancelTest, CancelKeepsFinishedVideosAndRefusesAFinishedJob) {
  Discover({"a", "b"});
  {
    pqxx::work txn(*conn_);
    txn.exec0("UPDATE videos SET stage = 'summarization', state = 'done' WHERE video_id = 'a'");
    txn.commit();
  }
  auto first = Cancel();
  EXPECT_EQ(first.outcome, store::CancelOutcome::kCancelled);
  EXPECT_EQ(first.skipped, 1);
  EXPECT_EQ(VideoState("a"), "done/");
  EXPECT_EQ(VideoState("b"), "skipped/cancelled");
  auto again = Cancel();
  EXPECT_EQ(again.outcome, store::CancelOutcome::kAlreadyClosed);
  EXPECT_EQ(again.state, "cancelled");
  auto conn = Open();
  pqxx::work txn(*conn);
  EXPECT_EQ(store::CancelJob(txn, NewUuid()).outcome, store::CancelOutcome::kNotFound);
}

TEST_F(ProcessorCancelTest, EveryChangeWritesOneFeedRowInItsTransaction) {
  Discover({"a"});
  {
    pqxx::work txn(*conn_);
    // A lease renewal alone is no change worth an event.
    txn.exec0("UPDATE videos SET lease_expires_at = now() WHERE video_id = 'a'");
    txn.commit();
  }
  ASSERT_EQ(Cancel().outcome, store::CancelOutcome::kCancelled);
  pqxx::work txn(*conn_);
  auto changes = store::ReadJobChanges(txn, job_id_, 0, 60000, 100);
  std::vector<std::string> seen;
  for (const auto& c : changes) {
    seen.push_back(c.kind + ":" +
                   (c.kind == "job"
                        ? c.payload.value("state", "")
                        : c.payload.value("video_id", "") + "/" + c.payload.value("state", "")));
    EXPECT_FALSE(c.settled) << "written just now";
  }
  // insert (queued), discovery claim (running), video inserted, video_count set, cancel: the
  // video skipped, the job cancelled.
  EXPECT_EQ(seen, (std::vector<std::string>{"job:queued", "job:running", "video:a/pending",
                                            "job:running", "video:a/skipped", "job:cancelled"}));
  for (std::size_t i = 1; i < changes.size(); ++i) EXPECT_GT(changes[i].seq, changes[i - 1].seq);
  EXPECT_EQ(changes.back().payload.value("error", ""), "cancelled");
  EXPECT_EQ(store::SettledHighWater(txn, job_id_, 60000), 0);
  EXPECT_EQ(store::SettledHighWater(txn, job_id_, 0), changes.back().seq);
  const auto counts = store::GetJobCounts(txn, job_id_);
  EXPECT_EQ(counts["total"], 1);
  EXPECT_EQ(counts["by_state"]["skipped"], 1);
  EXPECT_EQ(counts["by_stage"]["download"]["skipped"], 1);
}

TEST_F(ProcessorCancelTest, FeedRowsCarryTheSkipReasonAsTheJobViewHasIt) {
  Discover({"a", "b"});
  {
    pqxx::work txn(*conn_);
    ASSERT_TRUE(store::MarkVideoReused(txn, job_id_, "a", "already processed"));
    txn.commit();
  }
  ASSERT_EQ(Cancel().outcome, store::CancelOutcome::kCancelled);
  pqxx::work txn(*conn_);
  const auto view = store::GetJobView(txn, job_id_);
  ASSERT_TRUE(view.has_value());
  std::map<std::string, nlohmann::ordered_json> in_view;
  for (const auto& v : (*view)["videos"]) in_view[v["video_id"].get<std::string>()] = v;
  std::map<std::string, nlohmann::ordered_json> last;  // video -> its last feed row
  for (const auto& c : store::ReadJobChanges(txn, job_id_, 0, 60000, 100)) {
    if (c.kind != "video") continue;
    ASSERT_TRUE(c.payload.contains("skip_reason")) << c.payload.dump();
    if (c.payload["state"] == "pending") {
      EXPECT_TRUE(c.payload["skip_reason"].is_null());
    }
    last[c.payload["video_id"].get<std::string>()] = c.payload;
  }
  // Reused by incremental sync: skipped "already processed", in the feed as in GET /jobs/{id}.
  EXPECT_EQ(last["a"]["state"], "skipped");
  EXPECT_EQ(last["a"]["skip_reason"], "already processed");
  EXPECT_EQ(last["a"]["skip_reason"], in_view["a"]["skip_reason"]);
  // Skipped by the cancel: no skip_reason, the error says why.
  EXPECT_EQ(last["b"]["state"], "skipped");
  EXPECT_EQ(last["b"]["error"], "cancelled");
  EXPECT_TRUE(last["b"]["skip_reason"].is_null()) << last["b"].dump();
  EXPECT_EQ(last["b"]["skip_reason"], in_view["b"]["skip_reason"]);
}

}  // namespace
}  // namespace chansum::stage
