#pragma once
// yt-dlp: discovery (flat playlist as JSON) and download into MEDIA_DIR/<id>/. The command lines
// are fixed here; user input reaches them only as the URL after "--" (see channel.hpp).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/media/process.hpp"

namespace chansum::media {

// Environment:
//   YTDLP_BIN               program (default "yt-dlp", looked up on PATH)
//   YTDLP_DISCOVER_TIMEOUT  limit for one discovery run (default 5m)
//   YTDLP_TIMEOUT           limit for one download (default 30m)
//   YTDLP_SOCKET_TIMEOUT    yt-dlp --socket-timeout (default 30s)
//   YTDLP_FORMAT            yt-dlp -f (default "bestaudio/best": only the audio is needed)
//   MAX_MEDIA_BYTES         largest media file downloaded (default 2 GiB; 0 = no limit)
//   MAX_MEDIA_SECONDS       longest video downloaded, in seconds (default 14400; 0 = no limit)
//   YTDLP_COOKIES_FILE      a Netscape cookies file given to every yt-dlp call (a secret: never
//                           logged; checked at start; each run gets a private copy, since yt-dlp
//                           writes the jar back at exit and the secret may be mounted read-only)
//   YTDLP_PROXY             proxy URL given to every yt-dlp call (http, https, socks4, socks4a,
//                           socks5, socks5h); its credentials are never logged
struct YtDlpOptions {
  std::string binary = "yt-dlp";
  std::chrono::milliseconds discover_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds download_timeout{std::chrono::minutes(30)};
  std::chrono::milliseconds socket_timeout{std::chrono::seconds(30)};
  std::string format = "bestaudio/best";
  // Limits: given to yt-dlp (--max-filesize, --match-filter "duration <=? N") and the size checked
  // again on the finished file; over a limit the video fails permanently ("media_too_large",
  // "media_too_long"). A duration yt-dlp does not know is checked by audio extraction. 0 = none.
  std::int64_t max_media_bytes = std::int64_t{2} << 30;
  std::int64_t max_media_seconds = 4 * 3600;
  std::chrono::milliseconds kill_grace{std::chrono::seconds(3)};
  std::string cookies_file;  // empty: none
  std::string proxy;         // empty: none
  // `proxy` is the service's own egress proxy (libs/egress, YTDLP_EGRESS_PROXY): yt-dlp then runs
  // with no_proxy/NO_PROXY emptied, since Python's urllib would otherwise send the hosts they list
  // around the proxy (and so around its check).
  bool egress_proxy = false;
  // Checked while yt-dlp runs; true stops it (transient "canceled"). E.g. StageContext's.
  std::function<bool()> should_stop;

  [[nodiscard]] static YtDlpOptions FromEnv(ConfigReader& env);
  // yt-dlp goes through the service's own egress proxy at `url` (proxy, and egress_proxy set).
  void UseEgressProxy(std::string url) {
    proxy = std::move(url);
    egress_proxy = true;
  }
};

struct VideoEntry {
  // The key the pipeline stores the video under (videos.video_id, document _id, MEDIA_DIR/<key>/),
  // scoped by source so two sources cannot collide (issue 18 §3.6; SourceKey below).
  std::string key;
  std::string source;  // "youtube", another extractor's name in lower case, or "feed"
  std::string id;      // the source's own id: YouTube's video id, a feed item's <guid>
  std::string title;
  std::string url;                 // webpage URL, given back to Download
  std::optional<double> duration;  // seconds
  std::string published_at;        // RFC 3339 UTC ("2023-03-06T10:00:00Z") or empty
  std::string live_status;         // yt-dlp's live_status ("is_live", "is_upcoming", ...) or empty

  [[nodiscard]] bool IsLiveOrUpcoming() const {
    return live_status == "is_live" || live_status == "is_upcoming";
  }
};

// The source-scoped key of a listed video:
//   YouTube (ie_key/extractor_key "Youtube", or a youtube.com/youtu.be URL): the bare video id, so
//     a channel, a playlist and an earlier job listing the same video share its results (and keys
//     stored before issue 18 §3.6 stay valid); a YouTube id never holds ':'.
//   another named extractor: "<extractor in lower case>:<id>" (its ids are global on its site).
//   generic/feed entries: "feed:<id>:<16 hex of SHA-256 of the canonical media URL>": a feed's
//     <guid> is chosen by whoever writes the feed, so it names a video only together with the
//     media it points at; another feed reusing the guid for other media gets another key.
// `source` is the first part ("youtube", the extractor, "feed"); ids are made safe (SanitizeId).
struct SourceKey {
  std::string source;
  std::string key;
};
[[nodiscard]] SourceKey KeyForEntry(std::string_view ie_key, std::string_view id,
                                    std::string_view url);
// Lower-case scheme and host, default port and fragment dropped: "HTTP://H:80/a#x" -> "http://h/a".
[[nodiscard]] std::string CanonicalMediaUrl(std::string_view url);

struct Playlist {
  std::string id;
  std::string title;
  // The channel's UC… id when yt-dlp names one (a YouTube channel's tabs; "" otherwise): a
  // subscription remembers it for the channel's Atom feed (media/feed.hpp).
  std::string channel_id;
  std::vector<VideoEntry> entries;  // nested playlists flattened, duplicates removed
};

// Checks a Netscape cookies file the way yt-dlp reads it: the first line
// "# Netscape HTTP Cookie File" (or "# HTTP Cookie File"), then comments, blank lines and entries
// of 7 tab-separated fields with a numeric expiry. The error never quotes the file's contents.
[[nodiscard]] Status ValidateCookiesFile(const std::string& path);
// Checks a proxy URL (scheme http/https/socks4/socks4a/socks5/socks5h, a host). The error never
// quotes the credentials.
[[nodiscard]] Status ValidateProxyUrl(std::string_view proxy);
// The proxy URL with its user and password replaced by "***" (for logs and docs).
[[nodiscard]] std::string RedactProxy(std::string_view proxy);
// `text` with every secret of `options` (the proxy URL, its credentials, the cookies file's
// name) replaced by "***": applied to yt-dlp's stderr before it becomes an error message or a log.
[[nodiscard]] std::string ScrubSecrets(std::string text, const YtDlpOptions& options);

// The command lines (without the private cookies copy's path, which each run adds; see
// ytdlp_command.hpp). Exposed for tests.
[[nodiscard]] std::vector<std::string> DiscoverArgs(const std::string& url, int playlist_end,
                                                    const YtDlpOptions& options);

// Parses `yt-dlp --flat-playlist -J` output: a playlist (nested playlists such as a channel's
// tabs are flattened, links to other tabs/playlists skipped) or a single video. Entries without a
// usable http(s) URL are skipped; ids missing from the JSON come from the feed's guid (generic
// extractor) or the URL. Malformed JSON is a permanent "invalid_ytdlp_output" error.
[[nodiscard]] Result<Playlist> ParsePlaylist(std::string_view json);
[[nodiscard]] Result<std::vector<VideoEntry>> ParseFlatPlaylist(std::string_view json);

// Runs `yt-dlp --ignore-config --flat-playlist -J --playlist-end N ... -- <url>` and parses it.
// Live and upcoming entries are left out (nothing complete to download yet).
[[nodiscard]] Result<std::vector<VideoEntry>> Discover(const std::string& url, int max_videos,
                                                       const YtDlpOptions& options);
// The same with the playlist's facts (its channel id).
[[nodiscard]] Result<Playlist> DiscoverPlaylist(const std::string& url, int max_videos,
                                                const YtDlpOptions& options);

struct DownloadResult {
  std::filesystem::path path;  // <media_dir>/<SanitizeId(id)>/media.<ext>
  std::uint64_t bytes = 0;
};

// Downloads one video's media (format YTDLP_FORMAT) into a private temporary directory under
// <media_dir>/<SanitizeId(video_id)>/ and renames the file to media.<ext> there when complete, so
// a killed or failed run never leaves a partial media.* file.
[[nodiscard]] Result<DownloadResult> Download(const std::string& video_url,
                                              const std::string& video_id,
                                              const std::filesystem::path& media_dir,
                                              const YtDlpOptions& options);

// A video id made safe as one path component: [A-Za-z0-9_-] only, at most 64 characters, never
// empty, "." or "..". Ids that are already safe come back unchanged; others are mapped and get a
// hash suffix so different ids stay different.
[[nodiscard]] std::string SanitizeId(std::string_view id);

// Turns a failed yt-dlp run into an Error, classified by yt-dlp's stderr:
//   permanent: HTTP 404/410 ("not_found"), 403/401/other 4xx, "Unsupported URL", "Video
//     unavailable", private/removed/age- or member-restricted videos, live events not started,
//     usage errors (exit code 2);
//   transient: timeouts, stops, HTTP 429 and 5xx and YouTube's session rate limit
//     ("rate_limited"), network errors, unknown failures;
//   transient "bot_check": "Sign in to confirm you're not a bot" — the host wants cookies or a
//     proxy (YTDLP_COOKIES_FILE, YTDLP_PROXY); the stages block the host for a long while.
// The message is DescribeFailure's, without yt-dlp's "please report this issue" boilerplate.
[[nodiscard]] Error ClassifyYtDlpFailure(const ProcessResult& result,
                                         std::string_view program = "yt-dlp");

}  // namespace chansum::media
