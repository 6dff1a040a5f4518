#include <gtest/gtest.h>

#include "src/discovery.hpp"

namespace chansum::discovery {
namespace {

media::VideoEntry Entry(std::string published, std::optional<double> duration,
                        std::string live = "") {
  media::VideoEntry e;
  e.id = "v";
  e.url = "http://127.0.0.1/v.mp4";
  e.published_at = std::move(published);
  e.duration = duration;
  e.live_status = std::move(live);
  return e;
}

TEST(DiscoveryFilters, FromCommandData) {
  const auto f = FiltersFromCommand(
      {{"channel_url", "x"}, {"published_after", "2024-03-01T00:00:00Z"}, {"max_duration_s", 60}});
  EXPECT_EQ(f.published_after, "2024-03-01T00:00:00Z");
  ASSERT_TRUE(f.max_duration_s);
  EXPECT_DOUBLE_EQ(*f.max_duration_s, 60);
  const auto none = FiltersFromCommand({{"channel_url", "x"}});
  EXPECT_TRUE(none.published_after.empty());
  EXPECT_FALSE(none.max_duration_s);
}

TEST(DiscoveryFilters, DatesDurationsLiveAndUpcoming) {
  Filters f;
  f.published_after = "2024-03-01T00:00:00Z";
  f.max_duration_s = 60;
  EXPECT_TRUE(PassesFilters(Entry("2024-03-01T00:00:00Z", 60), f));
  EXPECT_TRUE(PassesFilters(Entry("2024-05-01T09:00:00Z", 10), f));
  EXPECT_FALSE(PassesFilters(Entry("2024-02-29T23:59:59Z", 10), f));
  EXPECT_FALSE(PassesFilters(Entry("2024-05-01T09:00:00Z", 60.5), f));
  // Unknown date or duration: kept (feeds need not carry them).
  EXPECT_TRUE(PassesFilters(Entry("", std::nullopt), f));
  // Live streams and upcoming premieres never pass, filters or not.
  EXPECT_FALSE(PassesFilters(Entry("2024-05-01T09:00:00Z", 10, "is_live"), f));
  EXPECT_FALSE(PassesFilters(Entry("", std::nullopt, "is_upcoming"), Filters{}));
  EXPECT_TRUE(PassesFilters(Entry("", std::nullopt, "was_live"), Filters{}));
}

// SSRF: feed entries are checked one by one; a refused one is kept, marked with the reason (it
// becomes a failed video), never silently dropped and never handed to download. Names resolve
// through a fake resolver: nothing here asks DNS.
TEST(DiscoveryDestinations, RefusedEntriesAreMarkedWithTheReason) {
  int lookups = 0;
  auto resolver = [&lookups](const std::string& host) -> Result<std::vector<net::IpAddress>> {
    ++lookups;
    if (host == "cdn.test") return std::vector<net::IpAddress>{*net::ParseIp("93.184.216.34")};
    if (host == "metadata.test") {
      return std::vector<net::IpAddress>{*net::ParseIp("169.254.169.254")};
    }
    return Error::Permanent("destination_unresolvable", "unknown " + host);
  };
  auto allow = net::AllowList::Parse("127.0.0.1:30090");
  ASSERT_TRUE(allow.ok());
  const net::DestinationPolicy policy(*allow, resolver);
  std::vector<store::DiscoveredVideo> videos;
  for (const char* url :
       {"http://127.0.0.1:30090/v1.mp4", "https://cdn.test/v2.mp4", "http://127.0.0.1:5432/v3",
        "http://metadata.test/latest/", "http://0x7f.1:30090/v5.mp4", "https://cdn.test/v6.mp4",
        "http://[fd00::1]/v7", "http://gone.test/v8"}) {
    store::DiscoveredVideo v;
    v.video_id = url;
    v.url = url;
    videos.push_back(v);
  }
  ASSERT_TRUE(ScreenDestinations(videos, policy).ok());
  ASSERT_EQ(videos.size(), 8u);
  const bool expect_refused[] = {false, false, true, true, false, false, true, true};
  for (std::size_t i = 0; i < videos.size(); ++i) {
    EXPECT_EQ(videos[i].refused.has_value(), expect_refused[i]) << videos[i].url;
  }
  EXPECT_EQ(videos[2].refused->code, net::kDestinationNotAllowed);
  EXPECT_NE(videos[2].refused->message.find("loopback"), std::string::npos);
  EXPECT_NE(videos[3].refused->message.find("link-local"), std::string::npos);
  EXPECT_EQ(videos[7].refused->code, "destination_unresolvable");
  EXPECT_EQ(lookups, 3) << "one lookup per host name for the whole feed";

  // A transient resolver error retries the discovery instead of failing entries for good.
  const net::DestinationPolicy flaky(net::AllowList{}, [](const std::string&) {
    return Result<std::vector<net::IpAddress>>(Error::Transient("dns_error", "try again"));
  });
  std::vector<store::DiscoveredVideo> one(1);
  one[0].url = "https://cdn.test/v.mp4";
  const auto st = ScreenDestinations(one, flaky);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.error().transient());
}

TEST(FeedPrecheck, NothingNewOnlyWhenEveryFeedIdWasSeen) {
  using Ids = std::vector<std::string>;
  EXPECT_FALSE(FeedShowsNothingNew({"a"}, std::nullopt)) << "never read: the listing decides";
  EXPECT_FALSE(FeedShowsNothingNew({}, std::nullopt));
  EXPECT_TRUE(FeedShowsNothingNew({"a", "b"}, Ids{"b", "a", "c"}));
  EXPECT_FALSE(FeedShowsNothingNew({"a", "new"}, Ids{"a", "b"}));
  EXPECT_TRUE(FeedShowsNothingNew({}, Ids{}));
  EXPECT_FALSE(FeedShowsNothingNew({}, Ids{"a"})) << "a feed that went empty is not trusted";
}

// The feed shows "late" before the listing does: it is not recorded as seen, so the next check
// lists the channel again instead of stopping at the feed.
TEST(FeedPrecheck, OnlyListedOrEarlierSeenFeedIdsAreKeptAsSeen) {
  nlohmann::json facts = {{"feed_video_ids", {"old", "listed", "late"}}};
  std::vector<media::VideoEntry> entries(1);
  entries[0].id = "listed";
  KeepListedFeedIds({{"seen", {"old"}}}, entries, facts);
  EXPECT_EQ(facts["feed_video_ids"], nlohmann::json({"old", "listed"}));
  nlohmann::json none = {{"feed_video_ids", nullptr}};
  KeepListedFeedIds(nlohmann::json::object(), entries, none);
  EXPECT_TRUE(none["feed_video_ids"].is_null());
}

}  // namespace
}  // namespace chansum::discovery
