#include "chansum/cli/progress.hpp"

#include <gtest/gtest.h>

namespace chansum::cli {
namespace {

using nlohmann::json;

json Snapshot() {
  return json::parse(R"({
    "job_id": "j1", "channel": "@demo", "state": "running", "video_count": 4, "error": null,
    "created_at": "2026-01-01T12:00:00.000Z", "started_at": "2026-01-01T12:00:00.000Z",
    "finished_at": null,
    "videos": [
      {"video_id": "a", "title": "A", "stage": "summarization", "state": "done", "attempts": 1,
       "last_error": null, "updated_at": "2026-01-01T12:00:20.000Z",
       "timings": {"download": {"started_at": "2026-01-01T12:00:01.000Z"}}},
      {"video_id": "b", "title": "B", "stage": "transcription", "state": "running", "attempts": 1,
       "last_error": null, "updated_at": "2026-01-01T12:00:15.000Z", "timings": {}},
      {"video_id": "c", "title": "C", "stage": "download", "state": "failed", "attempts": 5,
       "last_error": "HTTP 404", "updated_at": "2026-01-01T12:00:05.000Z", "timings": {}},
      {"video_id": "d", "title": "D", "stage": "download", "state": "pending", "attempts": 0,
       "last_error": null, "updated_at": "2026-01-01T12:00:00.000Z", "timings": {}}
    ]})");
}

// The snapshot with video d reused from an earlier job (incremental sync).
json SnapshotWithReusedVideo() {
  auto view = Snapshot();
  view["videos"][3]["state"] = "skipped";
  view["videos"][3]["stage"] = "summarization";
  view["videos"][3]["skip_reason"] = "already processed";
  return view;
}

TEST(Progress, ParsesApiTimestamps) {
  auto t = ParseTimestamp("2026-01-01T00:00:01.500Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_DOUBLE_EQ(*t, 1767225601.5);
  EXPECT_FALSE(ParseTimestamp("yesterday").has_value());
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(FormatDuration(12.34), "12.3s");
  EXPECT_EQ(FormatDuration(75.2), "1:15");
  EXPECT_EQ(FormatDuration(3725), "1:02:05");
}

TEST(Progress, TalliesEachStageFromTheVideos) {
  JobProgress p;
  p.ApplySnapshot(Snapshot());
  EXPECT_EQ(p.Total(), 4);
  auto dl = p.Tally("download");
  EXPECT_EQ(dl.passed, 2);  // a and b moved beyond it
  EXPECT_EQ(dl.failed, 1);
  auto tr = p.Tally("transcription");
  EXPECT_EQ(tr.passed, 1);
  EXPECT_EQ(tr.running, 1);
  EXPECT_EQ(p.Tally("summarization").passed, 1);
}

TEST(Progress, EstimatesTimeLeftFromTheFinishRate) {
  JobProgress p;
  p.ApplySnapshot(Snapshot());
  const double start = *ParseTimestamp("2026-01-01T12:00:00.000Z");
  // 2 of 4 finished (a done, c failed) after 40 s: 2 left at 20 s each.
  auto eta = p.EtaSeconds(start + 40);
  ASSERT_TRUE(eta.has_value());
  EXPECT_NEAR(*eta, 40.0, 0.01);
}

TEST(Progress, VideoEventsUpdateStateAndJobEventsEndIt) {
  JobProgress p;
  p.ApplySnapshot(Snapshot());
  auto line = p.ApplyVideo(json::parse(
      R"({"job_id":"j1","video_id":"b","stage":"summarization","state":"done","attempts":1,
          "error":null,"updated_at":"2026-01-01T12:00:30.000Z",
          "timings":{"download":{"started_at":"2026-01-01T12:00:02.000Z"}}})"));
  EXPECT_NE(line.find("b "), std::string::npos);
  EXPECT_NE(line.find("done"), std::string::npos);
  EXPECT_NE(line.find("28.0s"), std::string::npos);
  EXPECT_EQ(p.CountState("done"), 2);
  EXPECT_FALSE(p.Terminal());
  auto job = p.ApplyJob(json::parse(
      R"({"job_id":"j1","state":"cancelled","video_count":4,"counts":{},
          "finished_at":"2026-01-01T12:00:40.000Z"})"));
  EXPECT_NE(job.find("cancelled"), std::string::npos);
  EXPECT_TRUE(p.Terminal());
  EXPECT_EQ(p.state(), "cancelled");
  // Same state and counts again: no new line.
  EXPECT_EQ(p.ApplyJob(json::parse(R"({"job_id":"j1","state":"cancelled","video_count":4})")), "");
}

TEST(Progress, ASkippedVideoShowsWhyInItsLine) {
  JobProgress p;
  p.ApplySnapshot(Snapshot());
  // Incremental sync: the stream's video event carries the reason as GET /jobs/{id} does.
  auto reused = p.ApplyVideo(json::parse(
      R"({"job_id":"j1","video_id":"e","title":"E","stage":"summarization","state":"skipped",
          "attempts":0,"error":null,"error_class":null,"skip_reason":"already processed",
          "timings":{},"updated_at":"2026-01-01T12:00:31.000Z"})"));
  EXPECT_NE(reused.find("e                         summarization     skipped (already processed)"),
            std::string::npos)
      << reused;
  // A cancel skips with no skip_reason and the error "cancelled": shown once, as the reason.
  auto cancelled = p.ApplyVideo(json::parse(
      R"({"job_id":"j1","video_id":"d","stage":"download","state":"skipped","attempts":0,
          "error":"cancelled","error_class":null,"skip_reason":null,"timings":{},
          "updated_at":"2026-01-01T12:00:32.000Z"})"));
  EXPECT_NE(cancelled.find("download          skipped (cancelled)"), std::string::npos)
      << cancelled;
  EXPECT_EQ(cancelled.find("cancelled"), cancelled.rfind("cancelled")) << cancelled;
  EXPECT_EQ(p.CountState("skipped"), 2);
  // A failed video still shows its error after the state.
  auto failed = p.ApplyVideo(json::parse(
      R"({"job_id":"j1","video_id":"c","stage":"download","state":"failed","attempts":5,
          "error":"HTTP 404","skip_reason":null,"updated_at":"2026-01-01T12:00:33.000Z"})"));
  EXPECT_NE(failed.find("failed    HTTP 404"), std::string::npos) << failed;
}

TEST(Progress, SnapshotAndShowCarryTheSkipReason) {
  auto view = SnapshotWithReusedVideo();
  JobProgress p;
  p.ApplySnapshot(view);
  const auto block = p.RenderBlock(*ParseTimestamp("2026-01-01T12:00:40.000Z"), 10);
  EXPECT_NE(block.find("d                         summarization     skipped (already processed)"),
            std::string::npos)
      << block;
  VideoProgress v;
  v.state = "done";
  v.skip_reason = "already processed";
  EXPECT_EQ(SkipReason(v), "") << "only a skipped video has a skip reason";
  v.state = "skipped";
  EXPECT_EQ(SkipReason(v), "already processed");
  v.skip_reason.clear();
  v.error = "cancelled";
  EXPECT_EQ(SkipReason(v), "cancelled");
}

TEST(Progress, AVideoReusedFromAnEarlierJobPassedEveryStageButACancelledOneDidNot) {
  auto view = SnapshotWithReusedVideo();
  JobProgress p;
  p.ApplySnapshot(view);
  EXPECT_EQ(p.Tally("download").passed, 3);       // a, b and the reused d
  EXPECT_EQ(p.Tally("summarization").passed, 2);  // a and d
  view["videos"][3]["skip_reason"] = nullptr;
  view["videos"][3]["last_error"] = "cancelled";
  JobProgress cancelled;
  cancelled.ApplySnapshot(view);
  EXPECT_EQ(cancelled.Tally("summarization").passed, 1);  // only a
}

TEST(Progress, RendersOneBarPerStage) {
  JobProgress p;
  p.ApplySnapshot(Snapshot());
  const auto block = p.RenderBlock(*ParseTimestamp("2026-01-01T12:00:40.000Z"), 2);
  for (const char* s : kStages) EXPECT_NE(block.find(s), std::string::npos) << block;
  EXPECT_NE(block.find("2/4"), std::string::npos) << block;
  EXPECT_NE(block.find("... 2 more"), std::string::npos) << block;
}

TEST(JobNotes, ErrorAndWarnings) {
  EXPECT_EQ(JobNotes(json{{"error", nullptr}, {"warnings", json::array()}}), "");
  const json job = {
      {"error", "boom"},
      {"warnings",
       {{{"code", "bot_check"}, {"message", "set YTDLP_COOKIES_FILE or YTDLP_PROXY"}, {"count", 3}},
        {{"code", "other"}, {"message", "once"}, {"count", 1}}}}};
  EXPECT_EQ(JobNotes(job),
            "  error: boom\n"
            "  warning (bot_check, 3 times): set YTDLP_COOKIES_FILE or YTDLP_PROXY\n"
            "  warning (other): once\n");
}

}  // namespace
}  // namespace chansum::cli
