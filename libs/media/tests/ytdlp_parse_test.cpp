#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "chansum/media/channel.hpp"
#include "chansum/media/ytdlp.hpp"

namespace chansum::media {
namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(CHANSUM_MEDIA_FIXTURES) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ParsePlaylist, RssFeedReadByTheGenericExtractor) {
  auto p = ParsePlaylist(ReadFixture("rss_feed_generic.json"));
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p->title, "Demo Channel");
  EXPECT_EQ(p->id, "http://127.0.0.1:18765/feed.xml");
  ASSERT_EQ(p->entries.size(), 3u);

  const auto& first = p->entries[0];
  EXPECT_EQ(first.id, "demo-v1");  // the item's <guid>, smuggled into the URL fragment
  EXPECT_EQ(first.url, "http://127.0.0.1:18765/v1.mp4");
  EXPECT_EQ(first.title, "First video");
  EXPECT_EQ(first.published_at, "2023-03-06T10:00:00Z");
  EXPECT_FALSE(first.duration.has_value());
  EXPECT_FALSE(first.IsLiveOrUpcoming());

  EXPECT_EQ(p->entries[1].id, "demo-v2");
  EXPECT_EQ(p->entries[1].published_at, "2023-03-07T11:30:00Z");

  const auto& third = p->entries[2];  // no guid: id from the file name
  EXPECT_EQ(third.id, "v3");
  EXPECT_EQ(third.url, "http://127.0.0.1:18765/clips/v3.mp4");
  EXPECT_EQ(third.title,
            "Third & last \xe2\x80\x94 \xc3\xbcn\xc3\xaf"
            "code");
  EXPECT_EQ(third.published_at, "");
}

TEST(ParsePlaylist, YouTubeChannelWithNestedTabsIsFlattened) {
  auto p = ParsePlaylist(ReadFixture("youtube_channel_tabs.json"));
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p->title, "Demo Science");
  EXPECT_EQ(p->id, "UCx8Zq2Tk3oV0M7yH5pbVqLw");
  // Videos tab: 3 entries (+ a null); Live tab: 1 new + 1 duplicate; Shorts: a tab link only.
  ASSERT_EQ(p->entries.size(), 4u);
  EXPECT_EQ(p->entries[0].id, "dQw4w9WgXcQ");
  EXPECT_EQ(p->entries[0].url, "https://www.youtube.com/watch?v=dQw4w9WgXcQ");
  ASSERT_TRUE(p->entries[0].duration.has_value());
  EXPECT_DOUBLE_EQ(*p->entries[0].duration, 721.0);
  EXPECT_EQ(p->entries[0].published_at, "");

  EXPECT_EQ(p->entries[1].id, "-Xk9_b2QpL0");
  EXPECT_DOUBLE_EQ(p->entries[1].duration.value_or(-1), 95.0);
  EXPECT_EQ(p->entries[1].published_at, "2023-02-14T00:00:00Z");

  EXPECT_EQ(p->entries[2].id, "Up0c0m1ngXy");
  EXPECT_EQ(p->entries[2].live_status, "is_upcoming");
  EXPECT_TRUE(p->entries[2].IsLiveOrUpcoming());
  EXPECT_EQ(p->entries[2].published_at, "2030-01-01T00:00:00Z");  // release_timestamp

  EXPECT_EQ(p->entries[3].id, "L1veN0w0000");
  EXPECT_TRUE(p->entries[3].IsLiveOrUpcoming());

  auto flat = ParseFlatPlaylist(ReadFixture("youtube_channel_tabs.json"));
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(flat->size(), 4u);
}

TEST(ParsePlaylist, SingleVideoAndMissingFields) {
  auto single = ParseFlatPlaylist(R"({"id": "v1", "title": "v1", "timestamp": 1678096800.5,
      "webpage_url": "http://127.0.0.1:1/v1.mp4", "duration": 2.02, "formats": []})");
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->size(), 1u);
  EXPECT_EQ((*single)[0].id, "v1");
  EXPECT_EQ((*single)[0].published_at, "2023-03-06T10:00:00Z");
  EXPECT_DOUBLE_EQ((*single)[0].duration.value_or(0), 2.02);

  // Only an id and a YouTube ie_key (older flat output): the URL is built from the id.
  auto minimal = ParseFlatPlaylist(
      R"({"_type": "playlist", "entries": [{"_type": "url", "ie_key": "Youtube",
          "id": "abcdefghijk", "url": "abcdefghijk"}, {"_type": "url", "title": "no url"},
          {"_type": "url", "url": "http://h/x.mp4", "title": null, "duration": "12",
           "upload_date": "2023-13-01", "timestamp": -5}, 17, "text"]})");
  ASSERT_TRUE(minimal.ok());
  ASSERT_EQ(minimal->size(), 2u);
  EXPECT_EQ((*minimal)[0].url, "https://www.youtube.com/watch?v=abcdefghijk");
  EXPECT_EQ((*minimal)[0].title, "abcdefghijk");
  EXPECT_EQ((*minimal)[1].id, "x");
  EXPECT_EQ((*minimal)[1].title, "x");
  EXPECT_FALSE((*minimal)[1].duration.has_value());
  EXPECT_EQ((*minimal)[1].published_at, "");

  auto empty = ParseFlatPlaylist(R"({"_type": "playlist", "title": "t", "entries": []})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ParsePlaylist, SameIdDifferentUrlsStayDistinct) {
  auto r = ParseFlatPlaylist(R"({"_type": "playlist", "entries": [
      {"_type": "url", "url": "http://a/one/video.mp4"},
      {"_type": "url", "url": "http://a/two/video.mp4"},
      {"_type": "url", "url": "http://a/two/video.mp4"}]})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, "video");
  EXPECT_NE((*r)[1].id, "video");
  EXPECT_EQ((*r)[1].id.rfind("video-", 0), 0u);
}

// Issue 18 §3.6: a feed's <guid> names a video only together with its media. Two feeds with the
// same guid and different media get different keys; the same feed listed again gets the same key.
TEST(SourceKey, FeedEntriesAreKeyedByGuidAndMediaUrl) {
  auto feed = [](const std::string& media, const std::string& guid = "bees") {
    return R"({"_type": "playlist", "entries": [{"_type": "url_transparent", "url": ")" + media +
           "#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22" + guid +
           R"(%22%7D", "title": "t"}]})";
  };
  auto a = ParseFlatPlaylist(feed("http://127.0.0.1:8080/a/bees.mp4"));
  auto a_again = ParseFlatPlaylist(feed("http://127.0.0.1:8080/a/bees.mp4"));
  auto b = ParseFlatPlaylist(feed("http://127.0.0.1:8080/b/other.mp4"));
  ASSERT_TRUE(a.ok() && a_again.ok() && b.ok());
  ASSERT_EQ(a->size(), 1u);
  ASSERT_EQ(a_again->size(), 1u);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*a)[0].id, "bees");
  EXPECT_EQ((*b)[0].id, "bees");
  EXPECT_EQ((*a)[0].source, "feed");
  EXPECT_EQ((*a)[0].key.rfind("feed:bees:", 0), 0u) << (*a)[0].key;
  EXPECT_EQ((*a)[0].key.size(), std::string("feed:bees:").size() + 16);
  EXPECT_EQ((*a)[0].key, (*a_again)[0].key);
  EXPECT_NE((*a)[0].key, (*b)[0].key);
  // Never a YouTube key, whatever the guid: a feed cannot claim a YouTube video's results.
  auto fake = ParseFlatPlaylist(feed("http://127.0.0.1:8080/x.mp4", "dQw4w9WgXcQ"));
  ASSERT_TRUE(fake.ok());
  ASSERT_EQ(fake->size(), 1u);
  EXPECT_NE((*fake)[0].key, "dQw4w9WgXcQ");
  EXPECT_EQ((*fake)[0].source, "feed");
}

// A YouTube video keeps its bare id as key whether a channel tab, a playlist or a single-video
// listing names it, so results are reused across jobs (and keys stored before §3.6 stay valid).
TEST(SourceKey, YoutubeVideosKeepTheirIdAcrossListings) {
  auto channel = ParseFlatPlaylist(R"({"_type": "playlist", "id": "UCx", "entries": [
      {"_type": "playlist", "entries": [{"_type": "url", "ie_key": "Youtube",
        "id": "dQw4w9WgXcQ", "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}]}]})");
  auto playlist = ParseFlatPlaylist(R"({"_type": "playlist", "id": "PLx", "entries": [
      {"_type": "url", "ie_key": "Youtube", "id": "dQw4w9WgXcQ", "url": "dQw4w9WgXcQ"}]})");
  auto single = ParseFlatPlaylist(R"({"id": "dQw4w9WgXcQ", "extractor_key": "Youtube",
      "webpage_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "title": "t"})");
  auto vimeo = ParseFlatPlaylist(R"({"_type": "playlist", "entries": [
      {"_type": "url", "ie_key": "Vimeo", "id": "76979871", "url": "https://vimeo.com/76979871"}]})");
  ASSERT_TRUE(channel.ok() && playlist.ok() && single.ok() && vimeo.ok());
  for (const auto* list : {&*channel, &*playlist, &*single}) {
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ((*list)[0].key, "dQw4w9WgXcQ");
    EXPECT_EQ((*list)[0].source, "youtube");
  }
  ASSERT_EQ(vimeo->size(), 1u);
  EXPECT_EQ((*vimeo)[0].key, "vimeo:76979871");
  EXPECT_EQ(CanonicalMediaUrl("HTTP://Host:80/a/b.mp4?x=1#frag"), "http://host/a/b.mp4?x=1");
}

// Found by playlist_fuzz (twice): "youtube" in lower case was taken for another extractor, so a
// YouTube video got the key "youtube:<id>" under source "youtube" (a second key for the same
// video). The extractor's name is compared without case; a YouTube entry whose id is no YouTube id
// is a feed; and a long, odd ie_key made a 129-character key.
TEST(SourceKey, TheExtractorNameIsComparedWithoutCase) {
  auto r = ParseFlatPlaylist(R"({"_type": "playlist", "entries": [
      {"_type": "url", "ie_key": "youtube", "id": "L1veN0w0000",
       "url": "https://www.youtube.com/watch?v=L1veN0w0000"},
      {"_type": "url", "ie_key": "YOUTUBE", "id": "not-a-youtube-id",
       "url": "https://www.youtube.com/watch?v=x"},
      {"_type": "url", "ie_key": "generic", "id": "clip", "url": "http://a/clip.mp4"},
      {"_type": "url", "ie_key": "{outube",
       "id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
       "url": "http://a/long.mp4"}]})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].key, "L1veN0w0000");
  EXPECT_EQ((*r)[0].source, "youtube");
  EXPECT_EQ((*r)[1].source, "feed");
  EXPECT_EQ((*r)[1].key.rfind("feed:", 0), 0u) << (*r)[1].key;
  EXPECT_EQ((*r)[2].source, "feed");
  // Not an extractor's name: keyed like a feed entry, within the key's 128 characters.
  EXPECT_EQ((*r)[3].source, "feed");
  EXPECT_LE((*r)[3].key.size(), 128u);
}

// Found by playlist_fuzz: an entry URL that starts with "https://" but is no valid URL was listed
// (and Download then refused it). It is skipped, or rebuilt from the id for a YouTube entry.
TEST(ParsePlaylist, EntriesWithInvalidUrlsAreSkippedOrRebuilt) {
  auto r = ParseFlatPlaylist(R"({"_type": "playlist", "entries": [
      {"_type": "url", "url": "https://www.yout://www.youtube.com/watch?v=dQw4w9WgXcQ"},
      {"_type": "url", "ie_key": "Youtube", "id": "dQw4w9WgXcQ",
       "url": "https://www.yout://www.youtube.com/watch?v=dQw4w9WgXcQ"},
      {"_type": "url", "ie_key": "Youtube", "id": "bad id",
       "url": "https://www.yout://www.youtube.com/watch?v=x"},
      {"_type": "url", "url": "http://a/ok/video.mp4"}]})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, "dQw4w9WgXcQ");
  EXPECT_EQ((*r)[0].url, "https://www.youtube.com/watch?v=dQw4w9WgXcQ");
  EXPECT_EQ((*r)[1].url, "http://a/ok/video.mp4");
  for (const auto& e : *r) EXPECT_TRUE(ValidateHttpUrl(e.url).ok()) << e.url;
}

// The feed pre-check follows a listing's channel id: a channel's own listing has one, a playlist
// (whose "channel_id" is its owner's) has none, or its checks would read the owner's uploads feed.
TEST(ParsePlaylist, OnlyAChannelsOwnListingNamesAChannelId) {
  auto channel = ParsePlaylist(R"({"_type": "playlist", "id": "UCx8Zq2Tk3oV0M7yH5pbVqLw",
      "channel_id": "UCx8Zq2Tk3oV0M7yH5pbVqLw", "entries": []})");
  auto playlist = ParsePlaylist(R"({"_type": "playlist", "id": "PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf",
      "channel_id": "UCx8Zq2Tk3oV0M7yH5pbVqLw", "uploader_id": "UCx8Zq2Tk3oV0M7yH5pbVqLw",
      "entries": []})");
  ASSERT_TRUE(channel.ok() && playlist.ok());
  EXPECT_EQ(channel->channel_id, "UCx8Zq2Tk3oV0M7yH5pbVqLw");
  EXPECT_EQ(playlist->channel_id, "");
}

TEST(ParsePlaylist, MalformedJsonIsPermanent) {
  for (const char* bad : {"", "{", "not json", "[1,2]", "\"str\"", "{\"entries\": [}"}) {
    auto r = ParseFlatPlaylist(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
    EXPECT_EQ(r.error().code, "invalid_ytdlp_output");
  }
}

TEST(SanitizeId, SafeIdsUnchangedOthersMappedAndDistinct) {
  EXPECT_EQ(SanitizeId("dQw4w9WgXcQ"), "dQw4w9WgXcQ");
  EXPECT_EQ(SanitizeId("-Xk9_b2QpL0"), "-Xk9_b2QpL0");
  for (const char* id :
       {"", ".", "..", "../../etc/passwd", "a/b", "a b", "a\nb", "\xc3\xa9t\xc3\xa9"}) {
    const auto s = SanitizeId(id);
    EXPECT_FALSE(s.empty()) << id;
    EXPECT_NE(s, ".");
    EXPECT_NE(s, "..");
    EXPECT_EQ(
        s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"),
        std::string::npos)
        << s;
    EXPECT_LE(s.size(), 64u);
  }
  EXPECT_NE(SanitizeId("a/b"), SanitizeId("a_b"));
  EXPECT_NE(SanitizeId("a/b"), SanitizeId("a.b"));
  EXPECT_EQ(SanitizeId("a/b"), SanitizeId("a/b"));
  EXPECT_LE(SanitizeId(std::string(500, 'x')).size(), 64u);
  EXPECT_NE(SanitizeId(std::string(500, 'x')), SanitizeId(std::string(501, 'x')));
}

}  // namespace
}  // namespace chansum::media
