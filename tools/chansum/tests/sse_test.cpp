#include "chansum/cli/sse.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chansum/cli/progress.hpp"

#include <memory>
#include <vector>

namespace chansum::cli {
namespace {

struct Collected {
  std::vector<SseEvent> events;
  SseParser parser{[this](const SseEvent& e) { events.push_back(e); }};
};

std::unique_ptr<Collected> ParseAll(const std::vector<std::string>& chunks) {
  auto c = std::make_unique<Collected>();
  for (const auto& chunk : chunks) c->parser.Feed(chunk);
  return c;
}

TEST(SseParser, ParsesTypedEventsWithIdsAcrossChunkBoundaries) {
  auto c = ParseAll({"retry: 2000\n\nevent: snap", "shot\nid: 7\ndata: {\"a\":", "1}\n",
                     "\n: heartbeat\n\nevent: video\r\nid: 9\r\ndata: x\r\n\r\n"});
  const auto& events = c->events;
  const SseParser* p = &c->parser;
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "snapshot");
  EXPECT_EQ(events[0].id, "7");
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_EQ(events[1].type, "video");
  EXPECT_EQ(events[1].data, "x");
  EXPECT_EQ(p->last_event_id(), "9");
  EXPECT_EQ(p->comments(), 1);
  EXPECT_EQ(p->retry_ms(), 2000);
}

TEST(SseParser, JoinsDataLinesAndDefaultsTheType) {
  auto c = ParseAll({"data: one\ndata: two\n\n", "data\n\n", "event: x\n\n"});
  const auto& events = c->events;
  ASSERT_EQ(events.size(), 2u);  // the last block has no data: not dispatched
  EXPECT_EQ(events[0].type, "message");
  EXPECT_EQ(events[0].data, "one\ntwo");
  EXPECT_EQ(events[1].data, "");
}

TEST(SseParser, AnEventIsNotDispatchedBeforeItsBlankLine) {
  auto c = ParseAll({"event: job\nid: 3\ndata: {}\n"});
  EXPECT_TRUE(c->events.empty());
}

TEST(SseParser, AReusedVideosEventReachesTheWatchLineWithItsReason) {
  // As GET /jobs/{id}/events writes them for a resubmitted channel, split mid-event.
  const std::string stream =
      "retry: 2000\n\n"
      "event: snapshot\nid: 40\ndata: {\"job_id\":\"j2\",\"channel\":\"@demo\","
      "\"state\":\"running\",\"video_count\":null,\"videos\":[]}\n\n"
      "event: video\nid: 41\ndata: {\"job_id\":\"j2\",\"video_id\":\"honeybees\","
      "\"title\":\"Honeybees\",\"stage\":\"download\",\"state\":\"pending\",\"error\":null,"
      "\"error_class\":null,\"attempts\":0,\"skip_reason\":null,\"timings\":{},"
      "\"updated_at\":\"2026-01-01T12:00:01.000Z\"}\n\n"
      "event: video\nid: 42\ndata: {\"job_id\":\"j2\",\"video_id\":\"honeybees\","
      "\"title\":\"Honeybees\",\"stage\":\"summarization\",\"state\":\"skipped\","
      "\"error\":null,\"error_class\":null,\"attempts\":0,"
      "\"skip_reason\":\"already processed\",\"timings\":{},"
      "\"updated_at\":\"2026-01-01T12:00:01.000Z\"}\n\n";
  JobProgress progress;
  std::vector<std::string> lines;
  SseParser parser([&](const SseEvent& e) {
    const auto data = nlohmann::json::parse(e.data);
    if (e.type == "snapshot") progress.ApplySnapshot(data);
    if (e.type == "video") lines.push_back(progress.ApplyVideo(data));
  });
  parser.Feed(stream.substr(0, 300));
  parser.Feed(stream.substr(300));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("download          pending"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].find("skipped"), std::string::npos) << lines[0];
  EXPECT_NE(
      lines[1].find("honeybees                 summarization     skipped (already processed)"),
      std::string::npos)
      << lines[1];
  EXPECT_EQ(parser.last_event_id(), "42");
}

}  // namespace
}  // namespace chansum::cli
