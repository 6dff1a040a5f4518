#pragma once
// A channel's Atom feed (issue 15 §1, the cheap check before a full listing): YouTube publishes
// the latest uploads of every channel at https://www.youtube.com/feeds/videos.xml?channel_id=UC…
// (yt-dlp 2023.03 does not read Atom). Fetched with libcurl through libs/net's destination policy
// (every socket checked on the address it connects to), parsed with libxml2.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chansum/common/result.hpp"
#include "chansum/net/destination.hpp"

namespace chansum::media {

inline constexpr const char* kYouTubeFeedUrl =
    "https://www.youtube.com/feeds/videos.xml?channel_id={channel_id}";

struct FeedEntry {
  std::string video_id;   // <yt:videoId>
  std::string published;  // <published> as written (RFC 3339), "" when missing
  std::string title;      // <title>, entities decoded
};

// Parses a YouTube channel feed: an Atom <feed> (namespace http://www.w3.org/2005/Atom) whose
// <entry> elements carry <yt:videoId> (namespace http://www.youtube.com/xml/schemas/2015), in
// document order. A feed without entries is an empty list. No network access and no external
// entities or DTDs are loaded; entities of the document are decoded as text. Errors are permanent
// "feed_invalid" with the reason (not XML, not an Atom feed, an entry without a video id).
[[nodiscard]] Result<std::vector<FeedEntry>> ParseYouTubeFeed(std::string_view xml);

// A UC… channel id: "UC" and 22 characters of [A-Za-z0-9_-].
[[nodiscard]] bool IsChannelId(std::string_view id);

// The channel id in a channel URL's path (/channel/UC…), when the URL's host is YouTube's
// (youtube.com, www.youtube.com, m.youtube.com) or `feed_host` (the host that serves the feeds,
// from the feed URL template: a deployment's own mirror); nullopt otherwise (a handle URL, a
// playlist, another site).
[[nodiscard]] std::optional<std::string> ChannelIdFromUrl(std::string_view url,
                                                          std::string_view feed_host);

// The lower-case host of an http(s) URL; "" when there is none.
[[nodiscard]] std::string UrlHost(std::string_view url);

// `url_template` with "{channel_id}" replaced by `channel_id`.
[[nodiscard]] std::string FeedUrlFor(std::string_view url_template, std::string_view channel_id);

struct FeedFetchOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(15)};  // the whole request
  std::int64_t max_bytes = 4 << 20;                             // a larger answer is refused
  std::function<bool()> should_stop;                            // true aborts (transient)
};

// GET `url` (http or https, no redirects followed, no proxy) and returns the body of a 200.
// Errors: the policy's refusals (permanent); 404/410 permanent "feed_not_found"; 429 transient
// "rate_limited"; 5xx transient "server_error"; other statuses (redirects included) permanent
// "feed_http_error"; over max_bytes permanent "feed_too_large"; timeouts and broken connections
// transient "timeout" / "network".
[[nodiscard]] Result<std::string> FetchFeed(const std::string& url,
                                            const net::DestinationPolicy& policy,
                                            const FeedFetchOptions& options);

}  // namespace chansum::media
