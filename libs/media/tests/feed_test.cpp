// The Atom feed pre-check's parts: the parser (libxml2) on real-shaped YouTube feeds and bad
// input, channel ids from URLs, and the fetch through the destination policy against an
// in-process HTTP server on 127.0.0.1.
#include "chansum/media/feed.hpp"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

namespace chansum::media {
namespace {

using namespace std::chrono_literals;

// The shape YouTube serves at /feeds/videos.xml?channel_id=… (two entries; fields shortened).
constexpr std::string_view kFeed = R"(<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id=UCXuqSBlHAE6Xw-yeJA0Tunw"/>
 <id>yt:channel:XuqSBlHAE6Xw-yeJA0Tunw</id>
 <yt:channelId>XuqSBlHAE6Xw-yeJA0Tunw</yt:channelId>
 <title>Linus Tech Tips</title>
 <link rel="alternate" href="https://www.youtube.com/channel/UCXuqSBlHAE6Xw-yeJA0Tunw"/>
 <author>
  <name>Linus Tech Tips</name>
  <uri>https://www.youtube.com/channel/UCXuqSBlHAE6Xw-yeJA0Tunw</uri>
 </author>
 <published>2008-11-25T00:46:52+00:00</published>
 <entry>
  <id>yt:video:dQw4w9WgXcQ</id>
  <yt:videoId>dQw4w9WgXcQ</yt:videoId>
  <yt:channelId>UCXuqSBlHAE6Xw-yeJA0Tunw</yt:channelId>
  <title>Cables &amp; Connectors &#8211; a &quot;Guide&quot;</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"/>
  <author>
   <name>Linus Tech Tips</name>
   <uri>https://www.youtube.com/channel/UCXuqSBlHAE6Xw-yeJA0Tunw</uri>
  </author>
  <published>2024-03-02T17:00:06+00:00</published>
  <updated>2024-03-03T01:12:44+00:00</updated>
  <media:group>
   <media:title>Cables &amp; Connectors</media:title>
   <media:content url="https://www.youtube.com/v/dQw4w9WgXcQ?version=3" type="application/x-shockwave-flash" width="640" height="390"/>
   <media:community><media:starRating count="12" average="5.00" min="1" max="5"/></media:community>
  </media:group>
 </entry>
 <entry>
  <id>yt:video:aqz-KE-bpKQ</id>
  <yt:videoId>aqz-KE-bpKQ</yt:videoId>
  <title>Second</title>
  <published>2024-02-28T17:00:00+00:00</published>
 </entry>
</feed>
)";

TEST(ParseYouTubeFeed, EntriesInOrderWithEntitiesDecoded) {
  auto entries = ParseYouTubeFeed(kFeed);
  ASSERT_TRUE(entries.ok()) << entries.error().ToString();
  ASSERT_EQ(entries->size(), 2U);
  EXPECT_EQ((*entries)[0].video_id, "dQw4w9WgXcQ");
  EXPECT_EQ((*entries)[0].published, "2024-03-02T17:00:06+00:00");
  EXPECT_EQ((*entries)[0].title, "Cables & Connectors \u2013 a \"Guide\"");
  EXPECT_EQ((*entries)[1].video_id, "aqz-KE-bpKQ");
}

TEST(ParseYouTubeFeed, EmptyFeedIsAnEmptyList) {
  auto entries = ParseYouTubeFeed(
      R"(<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:yt="http://www.youtube.com/xml/schemas/2015"><title>New channel</title></feed>)");
  ASSERT_TRUE(entries.ok()) << entries.error().ToString();
  EXPECT_TRUE(entries->empty());
}

TEST(ParseYouTubeFeed, BadInputIsRefusedWithAReason) {
  for (const std::string& bad :
       {std::string("<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry>"), std::string(""),
        std::string("{\"not\": \"xml\"}"), std::string(kFeed.substr(0, kFeed.size() / 2))}) {
    auto r = ParseYouTubeFeed(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "feed_invalid");
    EXPECT_FALSE(r.error().transient());
    EXPECT_NE(r.error().message.find("not well-formed XML"), std::string::npos)
        << r.error().message;
  }
  // RSS 2.0 (the demo channel's format) or an Atom element outside the Atom namespace.
  auto rss = ParseYouTubeFeed(R"(<rss version="2.0"><channel><item/></channel></rss>)");
  ASSERT_FALSE(rss.ok());
  EXPECT_NE(rss.error().message.find("not an Atom feed"), std::string::npos);
  EXPECT_FALSE(ParseYouTubeFeed("<feed><entry/></feed>").ok());
  // An entry without its video id (yt:videoId in another namespace does not count).
  auto no_id = ParseYouTubeFeed(
      R"(<feed xmlns="http://www.w3.org/2005/Atom" xmlns:yt="urn:other"><entry><yt:videoId>x</yt:videoId></entry></feed>)");
  ASSERT_FALSE(no_id.ok());
  EXPECT_NE(no_id.error().message.find("no <yt:videoId>"), std::string::npos);
}

TEST(ParseYouTubeFeed, LoadsNoExternalEntity) {
  // An external entity (XXE) is neither read nor expanded: the id stays empty, so the entry is
  // refused, and /etc/hostname never shows up.
  const std::string xxe = R"(<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/hostname">]>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:yt="http://www.youtube.com/xml/schemas/2015">
<entry><yt:videoId>&x;</yt:videoId></entry></feed>)";
  auto r = ParseYouTubeFeed(xxe);
  if (r.ok()) {
    for (const auto& e : *r) EXPECT_TRUE(e.video_id.empty()) << e.video_id;
  } else {
    EXPECT_EQ(r.error().code, "feed_invalid");
  }
  // Internal entities are text like any other.
  const std::string internal = R"(<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY id "abcdefghijk">]>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:yt="http://www.youtube.com/xml/schemas/2015">
<entry><yt:videoId>&id;</yt:videoId></entry></feed>)";
  auto ok = ParseYouTubeFeed(internal);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  ASSERT_EQ(ok->size(), 1U);
  EXPECT_EQ((*ok)[0].video_id, "abcdefghijk");
}

TEST(FeedUrls, ChannelIdsFromYouTubeOrTheFeedHostOnly) {
  const std::string id = "UCXuqSBlHAE6Xw-yeJA0Tunw";
  EXPECT_TRUE(IsChannelId(id));
  EXPECT_FALSE(IsChannelId("UCshort"));
  EXPECT_FALSE(IsChannelId("XXXuqSBlHAE6Xw-yeJA0Tunw"));
  EXPECT_FALSE(IsChannelId("UCXuqSBlHAE6Xw-yeJA0Tun!"));
  EXPECT_EQ(ChannelIdFromUrl("https://www.youtube.com/channel/" + id + "/videos", ""), id);
  EXPECT_EQ(ChannelIdFromUrl("https://youtube.com/channel/" + id, ""), id);
  EXPECT_EQ(ChannelIdFromUrl("https://m.youtube.com/channel/" + id + "?x=1", ""), id);
  EXPECT_FALSE(ChannelIdFromUrl("https://www.youtube.com/@LinusTechTips/videos", ""));
  EXPECT_FALSE(ChannelIdFromUrl("https://www.youtube.com/playlist?list=PL123", ""));
  EXPECT_FALSE(ChannelIdFromUrl("https://example.com/channel/" + id, ""));
  EXPECT_FALSE(ChannelIdFromUrl("https://www.youtube.com.evil.test/channel/" + id, ""));
  EXPECT_EQ(ChannelIdFromUrl("http://127.0.0.1:8080/channel/" + id + "/videos", "127.0.0.1"), id);
  EXPECT_FALSE(ChannelIdFromUrl("http://127.0.0.2:8080/channel/" + id, "127.0.0.1"));
  EXPECT_EQ(UrlHost("https://user@WWW.YouTube.com:443/x"), "www.youtube.com");
  EXPECT_EQ(UrlHost("ftp://x/y"), "");
  EXPECT_EQ(FeedUrlFor(kYouTubeFeedUrl, id),
            "https://www.youtube.com/feeds/videos.xml?channel_id=" + id);
}

class FeedServer {
 public:
  FeedServer() {
    server_.Get("/feeds/videos.xml", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      const auto id = req.get_param_value("channel_id");
      if (id == "gone") {
        res.status = 404;
        return;
      }
      if (id == "busy") {
        res.status = 429;
        return;
      }
      if (id == "big") {
        res.set_content(std::string(1 << 20, 'x'), "application/atom+xml");
        return;
      }
      if (id == "moved") {
        res.set_redirect("/feeds/videos.xml?channel_id=x");
        return;
      }
      res.set_content(std::string(kFeed), "application/atom+xml; charset=UTF-8");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) std::this_thread::sleep_for(5ms);
  }
  ~FeedServer() {
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] std::string Url(const std::string& id) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/feeds/videos.xml?channel_id=" + id;
  }
  [[nodiscard]] int Port() const { return port_; }
  [[nodiscard]] int Requests() const { return requests_; }

 private:
  httplib::Server server_;
  std::atomic<int> requests_{0};
  int port_ = 0;
  std::thread thread_;
};

// A feed server allow-listed on loopback, and nothing else.
class FetchFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(server_.Port(), 0);
    auto allow = net::AllowList::Parse("127.0.0.1:" + std::to_string(server_.Port()));
    ASSERT_TRUE(allow.ok());
    policy_.emplace(*allow, net::SystemResolve);
    options_.timeout = 10s;
  }

  FeedServer server_;
  std::optional<net::DestinationPolicy> policy_;
  FeedFetchOptions options_;
};

TEST_F(FetchFeedTest, ThroughTheDestinationPolicy) {
  auto body = FetchFeed(server_.Url("UCXuqSBlHAE6Xw-yeJA0Tunw"), *policy_, options_);
  ASSERT_TRUE(body.ok()) << body.error().ToString();
  EXPECT_EQ(*body, kFeed);
  EXPECT_EQ(FetchFeed(server_.Url("gone"), *policy_, options_).error().code, "feed_not_found");
  auto busy = FetchFeed(server_.Url("busy"), *policy_, options_);
  EXPECT_EQ(busy.error().code, "rate_limited");
  EXPECT_TRUE(busy.error().transient());
  EXPECT_EQ(FetchFeed(server_.Url("moved"), *policy_, options_).error().code, "feed_http_error");
  options_.max_bytes = 64 << 10;
  EXPECT_EQ(FetchFeed(server_.Url("big"), *policy_, options_).error().code, "feed_too_large");

  // Loopback is refused unless allow-listed: no request reaches the server.
  const int before = server_.Requests();
  const net::DestinationPolicy strict;
  auto refused = FetchFeed(server_.Url("UCXuqSBlHAE6Xw-yeJA0Tunw"), strict, options_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, net::kDestinationNotAllowed) << refused.error().ToString();
  EXPECT_EQ(server_.Requests(), before);
}

TEST_F(FetchFeedTest, AStopRequestCancels) {
  options_.should_stop = [] { return true; };
  auto got = FetchFeed(server_.Url("big"), *policy_, options_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, "canceled");
  EXPECT_EQ(got.error().message, "feed fetch stopped");
  EXPECT_TRUE(got.error().transient());
}

}  // namespace
}  // namespace chansum::media
