// The Processor against a real PostgreSQL (private schema), with stub handlers: every state change
// writes exactly its domain events into the outbox, in the same transaction, and a duplicate
// delivery writes nothing.
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "chansum/common/ids.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/stage/processor.hpp"
#include "chansum/testing/pg_schema.hpp"

namespace chansum::stage {
namespace {

using protocol::Command;
using protocol::EventType;
using protocol::Stage;

struct OutboxEvent {
  std::int64_t id = 0;
  protocol::Event event;
};

class ProcessorEventsTest : public testing::SchemaFixture {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    prefix_ = "evt-" + testing::RandomName() + ".";
    job_id_ = NewUuid();
    trace_ = "trace-" + testing::RandomName();
    pqxx::work txn(*conn_);
    store::NewJob job;
    job.id = job_id_;
    job.channel = "@demo";
    job.channel_url = "http://127.0.0.1:1/demo/feed.xml";
    job.options = {{"max_videos", 3}};
    job.trace_id = trace_;
    store::InsertJob(txn, job);
    txn.commit();
  }

  RunnerConfig Config(Stage stage) const {
    RunnerConfig c;
    c.stage = stage;
    c.job_level = stage == Stage::kDiscovery;
    c.service = std::string(protocol::StageName(stage));
    c.queue_prefix = prefix_;
    c.max_attempts = 2;
    c.retry_base_delay = std::chrono::milliseconds(10);
    c.retry_max_delay = std::chrono::milliseconds(20);
    c.worker_id = "test:1";
    c.lease_seconds = 60;
    return c;
  }

  ProcessOutcome Run(Stage stage, Handler handler, const Command& cmd) {
    const RunnerConfig config = Config(stage);
    Processor processor(config, std::move(handler), nullptr, [] { return false; });
    return processor.Process(*conn_, protocol::Serialize(cmd));
  }

  Command VideoCommand(Stage stage, const std::string& video, int attempt = 1) const {
    nlohmann::json data = nlohmann::json::object();
    if (stage == Stage::kDownload) data = {{"url", "http://x/" + video}};
    if (stage == Stage::kAudioExtraction) data = {{"media_path", "/m/" + video + ".mp4"}};
    if (stage == Stage::kTranscription) data = {{"audio_path", "/m/" + video + ".wav"}};
    return protocol::NewCommand(stage, job_id_, video, "cmd-trace", data, attempt);
  }

  std::int64_t OutboxCount() const {
    return Query("SELECT count(*) FROM outbox")[0][0].as<std::int64_t>();
  }

  // Event rows after `after_id`, checking that each event has exactly its Kafka row and its
  // fanout row (same payload, message_id = event_id), and returning one entry per event.
  std::vector<OutboxEvent> EventsAfter(std::int64_t after_id) const {
    auto rows = Query(
        "SELECT id, destination, exchange, routing_key, message_id, payload FROM outbox WHERE id "
        "> " +
        std::to_string(after_id) + " AND (destination = 'kafka' OR exchange <> '') ORDER BY id");
    std::map<std::string, std::vector<pqxx::row>> by_event;
    std::vector<std::string> order;
    for (const auto& r : rows) {
      const auto mid = r[4].as<std::string>();
      if (!by_event.contains(mid)) order.push_back(mid);
      by_event[mid].push_back(r);
    }
    std::vector<OutboxEvent> out;
    for (const auto& mid : order) {
      const auto& pair = by_event[mid];
      EXPECT_EQ(pair.size(), 2u) << "event " << mid << " needs one kafka and one amqp row";
      if (pair.size() != 2) continue;
      auto parsed = protocol::ParseEvent(pair[0][5].as<std::string>());
      EXPECT_TRUE(parsed.ok()) << parsed.error().ToString() << "\n" << pair[0][5].as<std::string>();
      if (!parsed.ok()) continue;
      EXPECT_EQ(parsed->event_id, mid);
      EXPECT_EQ(parsed->job_id, job_id_);
      EXPECT_EQ(parsed->trace_id, trace_) << "events carry the job's trace id";
      const std::string type(protocol::EventTypeName(parsed->type));
      for (const auto& r : pair) {
        EXPECT_EQ(r[5].as<std::string>(), pair[0][5].as<std::string>());
        if (r[1].as<std::string>() == "kafka") {
          EXPECT_EQ(r[2].as<std::string>(), prefix_ + type);
          EXPECT_EQ(r[3].as<std::string>(), protocol::EventKey(*parsed));
        } else {
          EXPECT_EQ(r[1].as<std::string>(), "amqp");
          EXPECT_EQ(r[2].as<std::string>(), prefix_ + "events");
          EXPECT_EQ(r[3].as<std::string>(), type);
        }
      }
      EXPECT_NE(pair[0][1].as<std::string>(), pair[1][1].as<std::string>());
      out.push_back({pair[0][0].as<std::int64_t>(), std::move(*parsed)});
    }
    return out;
  }

  std::int64_t MaxId() const {
    return Query("SELECT coalesce(max(id), 0) FROM outbox")[0][0].as<std::int64_t>();
  }

  // True when the outbox row of the event was written in the same transaction as the row the
  // query names (now() is the transaction's start time, so both timestamps are equal).
  bool SameTransaction(const std::string& event_id, const std::string& state_ts_sql) const {
    return Query("SELECT (SELECT min(created_at) FROM outbox WHERE message_id = '" + event_id +
                 "') = (" + state_ts_sql + ")")[0][0]
        .as<bool>();
  }

  std::string prefix_;
  std::string job_id_;
  std::string trace_;
};

Handler Discovered(std::vector<store::DiscoveredVideo> videos) {
  return [videos](const Command&, StageContext&) -> Result<StageOutput> {
    StageOutput out;
    out.discovered = videos;
    out.event_data = {{"video_count", videos.size()}};
    return out;
  };
}

Handler Succeeds(nlohmann::json facts,
                 std::chrono::milliseconds work = std::chrono::milliseconds(0)) {
  return [facts, work](const Command& cmd, StageContext&) -> Result<StageOutput> {
    std::this_thread::sleep_for(work);
    StageOutput out;
    out.event_data = facts;
    if (cmd.stage == Stage::kDownload) {
      out.media_path = "/m/" + cmd.video_id + ".mp4";
      out.next_data = {{"media_path", out.media_path}};
    } else if (cmd.stage == Stage::kAudioExtraction) {
      out.audio_path = "/m/" + cmd.video_id + ".wav";
      out.next_data = {{"audio_path", out.audio_path}};
    }
    return out;
  };
}

Handler Fails(Error error) {
  return [error](const Command&, StageContext&) -> Result<StageOutput> { return error; };
}

Command DiscoveryCommand(const std::string& job_id) {
  return protocol::NewCommand(
      Stage::kDiscovery, job_id, "", "cmd-trace",
      {{"channel_url", "http://127.0.0.1:1/demo/feed.xml"}, {"max_videos", 3}});
}

std::vector<store::DiscoveredVideo> ThreeVideos() {
  store::DiscoveredVideo a{"vid-a", "Alpha", "http://x/a", 61.5, "2026-11-01T09:30:00Z", ""};
  store::DiscoveredVideo b{"vid-b", "", "http://x/b", std::nullopt, "", ""};
  store::DiscoveredVideo c{"vid-c", "Gamma", "http://x/c", 12.0, "", ""};
  return {a, b, c};
}

TEST_F(ProcessorEventsTest, WholeJobEmitsExactlyTheContractEvents) {
  // ---- discovery: one video.discovered per recorded video, same transaction as the insert.
  auto before = MaxId();
  const auto discovery = DiscoveryCommand(job_id_);
  auto outcome = Run(Stage::kDiscovery, Discovered(ThreeVideos()), discovery);
  ASSERT_EQ(outcome.disposition, Disposition::kAck) << outcome.summary;
  auto events = EventsAfter(before);
  ASSERT_EQ(events.size(), 3u);
  const std::vector<std::string> ids = {"vid-a", "vid-b", "vid-c"};
  for (int i = 0; i < 3; ++i) {
    const auto& e = events[static_cast<std::size_t>(i)].event;
    EXPECT_EQ(e.type, EventType::kVideoDiscovered);
    EXPECT_EQ(e.video_id, ids[static_cast<std::size_t>(i)]);
    EXPECT_EQ(e.data["position"], i);
    EXPECT_EQ(e.data["url"], "http://x/" + ids[static_cast<std::size_t>(i)].substr(4));
  }
  EXPECT_EQ(events[0].event.data["title"], "Alpha");
  EXPECT_EQ(events[0].event.data["duration_s"], 61.5);
  EXPECT_EQ(events[0].event.data["published_at"], "2026-11-01T09:30:00Z");
  EXPECT_EQ(events[1].event.data["title"], "");
  EXPECT_TRUE(events[1].event.data["duration_s"].is_null());
  EXPECT_TRUE(events[1].event.data["published_at"].is_null());
  EXPECT_TRUE(SameTransaction(events[0].event.event_id,
                              "SELECT created_at FROM videos WHERE video_id = 'vid-a'"));

  // A redelivered discovery command records nothing and emits nothing.
  const auto count = OutboxCount();
  outcome = Run(Stage::kDiscovery, Discovered(ThreeVideos()), discovery);
  EXPECT_EQ(outcome.summary, "skipped: already_done");
  EXPECT_EQ(OutboxCount(), count);

  // ---- vid-a through the four stages: one stage event each, with the handler's facts.
  struct Step {
    Stage stage;
    EventType type;
    nlohmann::json facts;
    nlohmann::json expected;  // without duration_ms
  };
  const std::vector<Step> steps = {
      {Stage::kDownload, EventType::kVideoDownloaded, {{"bytes", 4096}}, {{"bytes", 4096}}},
      {Stage::kAudioExtraction,
       EventType::kAudioExtracted,
       {{"audio_seconds", 61.25}, {"bytes", 1960044}},
       {{"audio_seconds", 61.25}, {"bytes", 1960044}}},
      {Stage::kTranscription,
       EventType::kTranscriptionCompleted,
       {{"engine", "pocketsphinx"}, {"segments", 9}, {"audio_seconds", 61.25}, {"extra", 1}},
       {{"engine", "pocketsphinx"}, {"segments", 9}, {"audio_seconds", 61.25}}},
      {Stage::kSummarization,
       EventType::kSummarizationCompleted,
       {{"engine", "textrank"}, {"key_points", 4}, {"summary_chars", 321}},
       {{"engine", "textrank"}, {"key_points", 4}, {"summary_chars", 321}}},
  };
  for (const auto& step : steps) {
    SCOPED_TRACE(std::string(protocol::StageName(step.stage)));
    before = MaxId();
    const auto cmd = VideoCommand(step.stage, "vid-a");
    outcome = Run(step.stage, Succeeds(step.facts, std::chrono::milliseconds(30)), cmd);
    ASSERT_EQ(outcome.disposition, Disposition::kAck) << outcome.summary;
    events = EventsAfter(before);
    ASSERT_EQ(events.size(), 1u) << "exactly the stage event (the job is not finished)";
    const auto& e = events[0].event;
    EXPECT_EQ(e.type, step.type);
    EXPECT_EQ(e.video_id, "vid-a");
    auto data = e.data;
    ASSERT_TRUE(data.contains("duration_ms"));
    EXPECT_GE(data["duration_ms"].get<std::int64_t>(), 30) << "the handler's run time";
    EXPECT_LT(data["duration_ms"].get<std::int64_t>(), 10000);
    data.erase("duration_ms");
    EXPECT_EQ(data, step.expected);
    EXPECT_TRUE(SameTransaction(
        e.event_id,
        "SELECT updated_at FROM videos WHERE video_id = 'vid-a' AND job_id = '" + job_id_ + "'"));

    // The same command delivered again: the stage is finished, nothing is written.
    const auto n = OutboxCount();
    outcome = Run(step.stage, Succeeds(step.facts), cmd);
    EXPECT_EQ(outcome.summary, "skipped: already_done");
    EXPECT_EQ(OutboxCount(), n);
  }

  // ---- vid-b: a permanent error fails the video at once: video.failed, same transaction.
  before = MaxId();
  outcome = Run(Stage::kDownload, Fails(Error::Permanent("video_unavailable", "Video unavailable")),
                VideoCommand(Stage::kDownload, "vid-b"));
  ASSERT_EQ(outcome.disposition, Disposition::kAck) << outcome.summary;
  events = EventsAfter(before);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.type, EventType::kVideoFailed);
  EXPECT_EQ(events[0].event.video_id, "vid-b");
  EXPECT_EQ(events[0].event.data, (nlohmann::json{{"stage", "download"},
                                                  {"error_class", "permanent"},
                                                  {"error_code", "video_unavailable"},
                                                  {"error_message", "Video unavailable"},
                                                  {"attempts", 1}}));
  EXPECT_TRUE(SameTransaction(events[0].event.event_id,
                              "SELECT finished_at FROM videos WHERE video_id = 'vid-b'"));

  // ---- vid-c: a transient error is retried (no event), then runs out of attempts.
  before = MaxId();
  outcome =
      Run(Stage::kDownload, Succeeds({{"bytes", 1}}), VideoCommand(Stage::kDownload, "vid-c"));
  events = EventsAfter(before);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.type, EventType::kVideoDownloaded);
  before = MaxId();
  outcome = Run(Stage::kAudioExtraction, Fails(Error::Transient("timeout", "ffmpeg timed out")),
                VideoCommand(Stage::kAudioExtraction, "vid-c"));
  EXPECT_NE(outcome.summary.find("retry 2/2"), std::string::npos) << outcome.summary;
  EXPECT_TRUE(EventsAfter(before).empty()) << "a retry is not an event";
  EXPECT_EQ(Query("SELECT count(*) FROM outbox WHERE id > " + std::to_string(before) +
                  " AND routing_key = '" + prefix_ + "audio_extraction.retry'")[0][0]
                .as<int>(),
            1);
  before = MaxId();
  outcome = Run(Stage::kAudioExtraction, Fails(Error::Transient("timeout", "ffmpeg timed out")),
                VideoCommand(Stage::kAudioExtraction, "vid-c", 2));
  events = EventsAfter(before);
  ASSERT_EQ(events.size(), 2u) << "video.failed, then job.completed";
  EXPECT_EQ(events[0].event.type, EventType::kVideoFailed);
  EXPECT_EQ(events[0].event.data["stage"], "audio_extraction");
  EXPECT_EQ(events[0].event.data["error_class"], "transient");
  EXPECT_EQ(events[0].event.data["error_code"], "timeout");
  EXPECT_EQ(events[0].event.data["attempts"], 2);
  const auto& job = events[1].event;
  EXPECT_EQ(job.type, EventType::kJobCompleted);
  EXPECT_TRUE(job.video_id.empty());
  auto data = job.data;
  EXPECT_GE(data["duration_ms"].get<std::int64_t>(), 0);
  data.erase("duration_ms");
  EXPECT_EQ(
      data,
      (nlohmann::json{
          {"state", "completed_with_errors"}, {"video_count", 3}, {"done", 1}, {"failed", 2}}));
  EXPECT_TRUE(
      SameTransaction(job.event_id, "SELECT finished_at FROM jobs WHERE id = '" + job_id_ + "'"));
  EXPECT_EQ(Query("SELECT state FROM jobs WHERE id = '" + job_id_ + "'")[0][0].as<std::string>(),
            "completed_with_errors");

  // A late duplicate of vid-c's last attempt finds the video failed: nothing more.
  const auto n = OutboxCount();
  outcome = Run(Stage::kAudioExtraction, Fails(Error::Transient("timeout", "again")),
                VideoCommand(Stage::kAudioExtraction, "vid-c", 2));
  EXPECT_EQ(outcome.summary, "skipped: already_done");
  EXPECT_EQ(OutboxCount(), n);

  // In all, per event type, exactly what the job went through.
  std::map<std::string, int> totals;
  for (const auto& e : EventsAfter(0)) ++totals[std::string(protocol::EventTypeName(e.event.type))];
  EXPECT_EQ(totals, (std::map<std::string, int>{{"video.discovered", 3},
                                                {"video.downloaded", 2},
                                                {"audio.extracted", 1},
                                                {"transcription.completed", 1},
                                                {"summarization.completed", 1},
                                                {"video.failed", 2},
                                                {"job.completed", 1}}));
}

TEST_F(ProcessorEventsTest, DiscoveryFailureEndsTheJobWithJobCompletedFailed) {
  const auto before = MaxId();
  auto outcome = Run(Stage::kDiscovery, Fails(Error::Permanent("channel_not_found", "no channel")),
                     DiscoveryCommand(job_id_));
  ASSERT_EQ(outcome.disposition, Disposition::kAck) << outcome.summary;
  auto events = EventsAfter(before);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.type, EventType::kJobCompleted);
  auto data = events[0].event.data;
  data.erase("duration_ms");
  EXPECT_EQ(data,
            (nlohmann::json{{"state", "failed"}, {"video_count", 0}, {"done", 0}, {"failed", 0}}));
  EXPECT_TRUE(SameTransaction(events[0].event.event_id,
                              "SELECT finished_at FROM jobs WHERE id = '" + job_id_ + "'"));

  // Redelivered: the job is closed, nothing happens.
  const auto n = OutboxCount();
  outcome = Run(Stage::kDiscovery, Fails(Error::Permanent("channel_not_found", "no channel")),
                DiscoveryCommand(job_id_));
  EXPECT_EQ(outcome.summary, "skipped: job_closed");
  EXPECT_EQ(OutboxCount(), n);
}

TEST_F(ProcessorEventsTest, TransientDiscoveryErrorRetriesWithoutEvents) {
  const auto before = MaxId();
  auto outcome =
      Run(Stage::kDiscovery, Fails(Error::Transient("timeout", "slow")), DiscoveryCommand(job_id_));
  EXPECT_NE(outcome.summary.find("retry"), std::string::npos) << outcome.summary;
  EXPECT_TRUE(EventsAfter(before).empty());
}

TEST_F(ProcessorEventsTest, EmptyChannelCompletesTheJobAtDiscovery) {
  const auto before = MaxId();
  auto outcome = Run(Stage::kDiscovery, Discovered({}), DiscoveryCommand(job_id_));
  ASSERT_EQ(outcome.disposition, Disposition::kAck) << outcome.summary;
  auto events = EventsAfter(before);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.type, EventType::kJobCompleted);
  EXPECT_EQ(events[0].event.data["state"], "completed");
  EXPECT_EQ(events[0].event.data["video_count"], 0);
}

// SSRF: an entry discovery refused (its URL names a non-public destination) is recorded, fails
// in the same transaction with video.failed carrying the reason, and gets no download command.
TEST_F(ProcessorEventsTest, RefusedEntriesFailAtDiscoveryWithoutADownloadCommand) {
  auto videos = ThreeVideos();
  videos[1].url = "http://127.0.0.1:5432/x";
  videos[1].refused =
      Error::Permanent("destination_not_allowed",
                       "destination 127.0.0.1:5432 is not allowed: it is a loopback address");
  const auto before = MaxId();
  auto outcome = Run(Stage::kDiscovery, Discovered(videos), DiscoveryCommand(job_id_));
  ASSERT_EQ(outcome.disposition, Disposition::kAck) << outcome.summary;
  const auto events = EventsAfter(before);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].event.type, EventType::kVideoDiscovered);
  EXPECT_EQ(events[2].event.type, EventType::kVideoFailed);
  EXPECT_EQ(events[2].event.video_id, "vid-b");
  EXPECT_EQ(events[2].event.data["stage"], "download");
  EXPECT_EQ(events[2].event.data["error_code"], "destination_not_allowed");
  EXPECT_EQ(events[2].event.data["error_class"], "permanent");
  EXPECT_EQ(events[3].event.video_id, "vid-c");
  const auto row = Query("SELECT state, stage, last_error FROM videos WHERE job_id = '" + job_id_ +
                         "' AND video_id = 'vid-b'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<std::string>(), "failed");
  EXPECT_EQ(row[0][1].as<std::string>(), "download");
  EXPECT_NE(row[0][2].as<std::string>().find("loopback"), std::string::npos);
  const auto commands =
      Query("SELECT payload::text FROM outbox WHERE id > " + std::to_string(before) +
            " AND routing_key = '" + prefix_ + "download'");
  ASSERT_EQ(commands.size(), 2u) << "download commands for vid-a and vid-c only";
  for (const auto& c : commands) {
    EXPECT_EQ(c[0].as<std::string>().find("vid-b"), std::string::npos) << c[0].as<std::string>();
  }
}

TEST_F(ProcessorEventsTest, MalformedCommandIsDeadLetteredWithoutEvents) {
  const auto before = MaxId();
  const RunnerConfig config = Config(Stage::kDownload);
  Processor processor(config, Succeeds({}), nullptr, [] { return false; });
  auto outcome = processor.Process(*conn_, "{\"type\": \"download.requested\"}");
  EXPECT_NE(outcome.summary.find("dead-lettered"), std::string::npos);
  EXPECT_TRUE(EventsAfter(before).empty());
  EXPECT_EQ(
      Query("SELECT count(*) FROM outbox WHERE routing_key = '" + prefix_ + "download.dlq'")[0][0]
          .as<int>(),
      1);
}

}  // namespace
}  // namespace chansum::stage
