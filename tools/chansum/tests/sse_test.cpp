#include "chansum/cli/sse.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace chansum::cli
