// POST/PATCH /subscriptions bodies (issue 15): intervals, since, keep_days, and the channel and
// filters validated exactly as POST /jobs validates them.
#include <gtest/gtest.h>

#include "src/subscriptions.hpp"

namespace chansum::orchestrator {
namespace {

constexpr const char* kNow = "2026-12-07T10:00:00Z";

TEST(ParseEvery, AcceptsUnitsInDecreasingOrder) {
  EXPECT_EQ(ParseEvery("6h"), 6 * 3600);
  EXPECT_EQ(ParseEvery("30m"), 1800);
  EXPECT_EQ(ParseEvery("1d"), 86400);
  EXPECT_EQ(ParseEvery("90s"), 90);
  EXPECT_EQ(ParseEvery("1h30m"), 5400);
  EXPECT_EQ(ParseEvery("1d2h3m4s"), 86400 + 7200 + 180 + 4);
  for (const char* bad : {"", "6", "h", "0h", "-1h", "1h1h", "30m1h", "1w", "1.5h", " 6h", "6h ",
                          "99999999999h", "1x"}) {
    EXPECT_FALSE(ParseEvery(bad)) << bad;
  }
}

TEST(ParseSubscriptionRequest, DefaultsFollowFromNow) {
  auto r = ParseSubscriptionRequest(R"({"channel": "@abc"})", 300, kNow);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->every_s, 6 * 3600);
  EXPECT_EQ(r->since, kNow);
  EXPECT_EQ(r->job.published_after, kNow);
  EXPECT_EQ(r->job.max_videos, kDefaultMaxVideos);
  EXPECT_FALSE(r->keep_days);
  EXPECT_FALSE(r->paused);
  const auto options = SubscriptionOptions(*r);
  EXPECT_EQ(options.at("published_after"), kNow);
  EXPECT_EQ(options.at("max_videos"), kDefaultMaxVideos);
  EXPECT_FALSE(options.contains("keep_days"));
}

TEST(ParseSubscriptionRequest, AcceptsEveryField) {
  auto r = ParseSubscriptionRequest(
      R"({"channel": "https://example.org/feed.xml", "every": "1h30m", "since": "2024-03-01",
          "max_videos": 5, "max_duration_s": 600, "keep_days": 30, "paused": true,
          "caption_languages": ["de", "en"]})",
      300, kNow);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->every_s, 5400);
  EXPECT_EQ(r->since, "2024-03-01T00:00:00Z");
  EXPECT_TRUE(r->job.user_url);
  EXPECT_EQ(r->job.max_videos, 5);
  EXPECT_EQ(r->keep_days, 30);
  EXPECT_TRUE(r->paused);
  const auto options = SubscriptionOptions(*r);
  EXPECT_EQ(options.at("keep_days"), 30);
  EXPECT_EQ(options.at("max_duration_s"), 600.0);
  EXPECT_EQ(options.at("caption_languages"), (nlohmann::json{"de", "en"}));
}

TEST(ParseSubscriptionRequest, RefusesBadInputWithTheCodesOfPostJobs) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "invalid_json"},
      {"[]", "invalid_request"},
      {R"({"every": "6h"})", "missing_field"},
      {R"({"channel": "-rf"})", "invalid_channel"},
      {R"({"channel": "@a", "every": "1m"})", "invalid_value"},  // below the minimum (300 s)
      {R"({"channel": "@a", "every": "31d"})", "invalid_value"},
      {R"({"channel": "@a", "every": 3600})", "invalid_type"},
      {R"({"channel": "@a", "since": "yesterday"})", "invalid_value"},
      {R"({"channel": "@a", "since": 2024})", "invalid_type"},
      {R"({"channel": "@a", "max_videos": 0})", "invalid_value"},
      {R"({"channel": "@a", "max_duration_s": "60"})", "invalid_type"},
      {R"({"channel": "@a", "keep_days": 0})", "invalid_value"},
      {R"({"channel": "@a", "keep_days": "7"})", "invalid_type"},
      {R"({"channel": "@a", "paused": "yes"})", "invalid_type"},
      {R"({"channel": "@a", "caption_languages": []})", "invalid_value"},
      {R"({"channel": "@a", "caption_languages": "en"})", "invalid_type"},
      {R"({"channel": "@a", "published_after": "2024-01-01"})", "unknown_field"},
      {R"({"channel": "@a", "color": "red"})", "unknown_field"},
  };
  for (const auto& [body, code] : cases) {
    auto r = ParseSubscriptionRequest(body, 300, kNow);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, code) << body << ": " << r.error().message;
  }
  EXPECT_EQ(ParseSubscriptionRequest(std::string(kMaxBodyBytes + 1, ' '), 300, kNow).error().code,
            "payload_too_large");
}

TEST(ParseSubscriptionPatch, MergesIntoTheStoredOptions) {
  auto p = ParseSubscriptionPatch(
      R"({"every": "12h", "paused": true, "max_videos": 7, "since": "now", "keep_days": null,
          "max_duration_s": null})",
      300, kNow);
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p->every_s, 12 * 3600);
  EXPECT_EQ(p->paused, true);
  const nlohmann::json stored = {{"max_videos", 20},
                                 {"published_after", "2024-01-01T00:00:00Z"},
                                 {"keep_days", 3},
                                 {"max_duration_s", 60}};
  const auto merged = MergeOptions(stored, p->options_patch);
  EXPECT_EQ(merged, (nlohmann::json{{"max_videos", 7}, {"published_after", kNow}}));
  auto languages = ParseSubscriptionPatch(R"({"caption_languages": ["pt-BR"]})", 300, kNow);
  ASSERT_TRUE(languages.ok()) << languages.error().ToString();
  EXPECT_EQ(MergeOptions(stored, languages->options_patch).at("caption_languages"),
            (nlohmann::json{"pt-BR"}));
  auto default_languages = ParseSubscriptionPatch(R"({"caption_languages": null})", 300, kNow);
  ASSERT_TRUE(default_languages.ok());
  EXPECT_FALSE(MergeOptions({{"caption_languages", {"de"}}}, default_languages->options_patch)
                   .contains("caption_languages"));
  auto empty = ParseSubscriptionPatch("{}", 300, kNow);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->every_s);
  EXPECT_FALSE(empty->paused);
  EXPECT_TRUE(empty->options_patch.empty());
  for (const char* bad :
       {R"({"channel": "@other"})", R"({"every": "10s"})", R"({"max_videos": 501})",
        R"({"paused": 1})", R"({"keep_days": -1})", R"({"caption_languages": ["--exec"]})"}) {
    EXPECT_FALSE(ParseSubscriptionPatch(bad, 300, kNow).ok()) << bad;
  }
}

// The feed pre-check's part of a check's discovery command (issue 15 §1).
TEST(FeedCheckData, FeedOfTheRememberedOrNamedChannelIdAndTheIdsSeen) {
  store::DueSubscription due;
  due.channel_url = "https://www.youtube.com/@LinusTechTips/videos";
  FeedPrecheck feed;
  // A handle names no channel id: no feed, and why.
  auto data = FeedCheckData(due, feed);
  EXPECT_TRUE(data.at("url").is_null()) << data;
  EXPECT_TRUE(data.at("seen").is_null()) << data;
  EXPECT_NE(data.at("note").get<std::string>().find("no channel id"), std::string::npos);
  // Remembered from the first listing: YouTube's feed, nothing seen yet.
  due.channel_id = "UCXuqSBlHAE6Xw-yeJA0Tunw";
  data = FeedCheckData(due, feed);
  EXPECT_EQ(data.at("url"),
            "https://www.youtube.com/feeds/videos.xml?channel_id=UCXuqSBlHAE6Xw-yeJA0Tunw");
  EXPECT_TRUE(data.at("seen").is_null());
  due.feed_video_ids = std::vector<std::string>{"a", "b"};
  data = FeedCheckData(due, feed);
  EXPECT_EQ(data.at("seen"), nlohmann::json({"a", "b"}));
  // A /channel/UC… URL names it; on another host only when that host serves the feeds.
  store::DueSubscription named;
  named.channel_url = "http://127.0.0.1:9000/channel/UCchansumDemoChannel0001/videos";
  EXPECT_TRUE(FeedCheckData(named, feed).at("url").is_null());
  feed.url_template = "http://127.0.0.1:9000/feeds/videos.xml?channel_id={channel_id}";
  EXPECT_EQ(FeedCheckData(named, feed).at("url"),
            "http://127.0.0.1:9000/feeds/videos.xml?channel_id=UCchansumDemoChannel0001");
  // SUBSCRIPTION_FEED_PRECHECK=false: nothing in the command.
  feed.enabled = false;
  EXPECT_TRUE(FeedCheckData(due, feed).is_null());
}

}  // namespace
}  // namespace chansum::orchestrator
