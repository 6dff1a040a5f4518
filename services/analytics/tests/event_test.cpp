// Unit tests: the analytics view of a parsed event (protocol::ParseEvent does the validation,
// tested in libs/protocol) with its reasons and topic check, and the percentile helper.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/event.hpp"

namespace chansum::analytics {
namespace {

using nlohmann::json;

json Envelope(const std::string& type, json data) {
  return json{{"event_id", "0b7f3c1e-5d2a-4c8e-9f10-1a2b3c4d5e6f"},
              {"type", type},
              {"version", 1},
              {"occurred_at", "2026-11-23T12:00:00.000Z"},
              {"job_id", "6F1C2B3A-0000-4000-8000-00000000ABCD"},
              {"video_id", "vid1"},
              {"trace_id", "trace-1"},
              {"data", std::move(data)}};
}

std::string Reason(const json& j, const std::string& topic = "") {
  auto r = ParseEvent(j.dump(), topic, "p.");
  return r.ok() ? "" : r.error().message;
}

TEST(ParseEvent, StageEventCarriesStageAndDuration) {
  auto e = ParseEvent(
      Envelope("audio.extracted", {{"duration_ms", 1234}, {"audio_seconds", 3.5}, {"bytes", 10}})
          .dump(),
      "p.audio.extracted", "p.");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->stage, "audio_extraction");
  EXPECT_EQ(e->duration_ms, 1234);
  EXPECT_EQ(e->job_id, "6f1c2b3a-0000-4000-8000-00000000abcd");  // normalized to lower case
  EXPECT_EQ(e->video_id, "vid1");
  EXPECT_EQ(e->trace_id, "trace-1");
}

TEST(ParseEvent, VideoFailedAndJobCompleted) {
  auto f = ParseEvent(Envelope("video.failed", {{"stage", "transcription"},
                                                {"error_class", "transient"},
                                                {"error_code", "timeout"},
                                                {"error_message", "x"},
                                                {"attempts", 5}})
                          .dump(),
                      "", "");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->failed_stage, "transcription");
  EXPECT_EQ(f->error_class, "transient");
  EXPECT_EQ(f->error_code, "timeout");
  EXPECT_TRUE(f->stage.empty());

  json j = Envelope("job.completed", {{"state", "completed_with_errors"},
                                      {"video_count", 5},
                                      {"done", 4},
                                      {"failed", 1},
                                      {"duration_ms", 9000}});
  j.erase("video_id");
  auto c = ParseEvent(j.dump(), "job.completed", "");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->job_state, "completed_with_errors");
  EXPECT_EQ(c->video_count, 5);
  EXPECT_EQ(c->done, 4);
  EXPECT_EQ(c->failed, 1);
  EXPECT_EQ(c->job_duration_ms, 9000);
}

TEST(ParseEvent, SubscriptionCheckedCarriesOutcomeAndNewVideos) {
  json j =
      Envelope("subscription.checked", {{"subscription_id", "E4D3C2B1-A0F9-4E8D-B7C6-5A4B3C2D1E0F"},
                                        {"check_id", "2f3e4d5c-6b7a-4980-a1b2-c3d4e5f6a7b8"},
                                        {"outcome", "new_videos"},
                                        {"new_videos", 3},
                                        {"started_job_id", "6F1C2B3A-0000-4000-8000-00000000ABCD"},
                                        {"listing", "full"},
                                        {"error", nullptr}});
  j.erase("video_id");
  auto c = ParseEvent(j.dump(), "p.subscription.checked", "p.");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->subscription_id, "e4d3c2b1-a0f9-4e8d-b7c6-5a4b3c2d1e0f");
  EXPECT_EQ(c->check_outcome, "new_videos");
  EXPECT_EQ(c->new_videos, 3);
  EXPECT_EQ(c->started_job_id, "6f1c2b3a-0000-4000-8000-00000000abcd");
  EXPECT_TRUE(c->video_id.empty());

  j["data"]["outcome"] = "no_new_videos";
  j["data"]["new_videos"] = 0;
  j["data"]["started_job_id"] = nullptr;
  c = ParseEvent(j.dump(), "", "");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->check_outcome, "no_new_videos");
  EXPECT_TRUE(c->started_job_id.empty());
  EXPECT_NE(Reason(j, "p.job.completed").find("arrived on topic"), std::string::npos);
}

TEST(ParseEvent, DiscoveredNeedsNoStageData) {
  auto e = ParseEvent(Envelope("video.discovered", {{"title", "t"},
                                                    {"url", "u"},
                                                    {"duration_s", nullptr},
                                                    {"published_at", nullptr},
                                                    {"position", 0}})
                          .dump(),
                      "", "");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(e->stage.empty());
}

TEST(ParseEvent, FieldsANewerProducerAddsAreIgnored) {
  json j = Envelope("video.downloaded", {{"duration_ms", 5}, {"bytes", 1}, {"codec", "h264"}});
  j["region"] = "eu";
  auto e = ParseEvent(j.dump(), "", "");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->duration_ms, 5);
}

TEST(ParseEvent, RejectsWithReasons) {
  EXPECT_EQ(ParseEvent("{not json", "", "").error().message, "payload is not valid JSON");
  EXPECT_EQ(ParseEvent("[1,2]", "", "").error().message, "payload is not a JSON object");
  EXPECT_EQ(ParseEvent("{\"x\":1}", "", "").error().code, "malformed_event");

  json j = Envelope("video.downloaded", {{"duration_ms", 5}, {"bytes", 1}});
  EXPECT_EQ(Reason(j), "");
  EXPECT_NE(Reason(j, "p.audio.extracted").find("arrived on topic"), std::string::npos);

  json bad = j;
  bad["event_id"] = "nope";
  EXPECT_NE(Reason(bad).find("event_id"), std::string::npos);
  bad = j;
  bad["type"] = "video.exploded";
  EXPECT_NE(Reason(bad).find("unknown event type"), std::string::npos);
  bad = j;
  bad["version"] = 2;
  EXPECT_NE(Reason(bad).find("unsupported event version 2"), std::string::npos);
  bad = j;
  bad["occurred_at"] = "2026-02-30T00:00:00Z";
  EXPECT_NE(Reason(bad).find("occurred_at"), std::string::npos);
  bad = j;
  bad.erase("video_id");
  EXPECT_NE(Reason(bad).find("video_id"), std::string::npos);
  bad = j;
  bad["data"]["duration_ms"] = -1;
  EXPECT_NE(Reason(bad).find("must not be negative"), std::string::npos);
  bad = j;
  bad["data"]["duration_ms"] = 1.5;
  EXPECT_NE(Reason(bad).find("must be an integer"), std::string::npos);
  bad = j;
  bad["data"] = "x";
  EXPECT_NE(Reason(bad).find("data"), std::string::npos);

  json f = Envelope("video.failed",
                    {{"stage", "upload"}, {"error_class", "transient"}, {"error_code", "x"}});
  EXPECT_NE(Reason(f).find("data.stage"), std::string::npos);
  f["data"]["stage"] = "download";
  f["data"]["error_class"] = "fatal";
  EXPECT_NE(Reason(f).find("data.error_class"), std::string::npos);

  json c = Envelope(
      "job.completed",
      {{"state", "weird"}, {"video_count", 1}, {"done", 1}, {"failed", 0}, {"duration_ms", 1}});
  EXPECT_NE(Reason(c).find("data.state"), std::string::npos);
}

TEST(PercentileCont, MatchesPostgresDefinition) {
  EXPECT_FALSE(PercentileCont({}, 0.5).has_value());
  EXPECT_DOUBLE_EQ(*PercentileCont({7}, 0.95), 7);
  EXPECT_DOUBLE_EQ(*PercentileCont({400, 100, 300, 200}, 0.5), 250);  // unsorted input
  // p95 of 1..4: position 0.95*3 = 2.85 -> 3 + 0.85*(4-3)
  EXPECT_DOUBLE_EQ(*PercentileCont({1, 2, 3, 4}, 0.95), 3.85);
  EXPECT_DOUBLE_EQ(*PercentileCont({1, 2, 3}, 0.0), 1);
  EXPECT_DOUBLE_EQ(*PercentileCont({1, 2, 3}, 1.0), 3);
  EXPECT_DOUBLE_EQ(*PercentileCont({1, 2, 3}, 7.0), 3);  // clamped
}

}  // namespace
}  // namespace chansum::analytics
