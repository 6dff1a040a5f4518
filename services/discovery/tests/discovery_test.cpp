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

}  // namespace
}  // namespace chansum::discovery
