#pragma once
// Direct media downloads with libcurl: a feed enclosure or a plain http(s) media file is fetched
// without starting yt-dlp (a Python start and an extraction per call). Every connection, the
// first and each redirect hop's, is checked by libs/net's DestinationPolicy on the address it
// actually connects to, before the socket exists.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/media/ytdlp.hpp"
#include "chansum/net/destination.hpp"

namespace chansum::media {

// Environment (the limits and timeouts are yt-dlp's, see ytdlp.hpp: MAX_MEDIA_BYTES,
// YTDLP_TIMEOUT for the whole download, YTDLP_SOCKET_TIMEOUT for connecting and for a stalled
// transfer):
//   DIRECT_DOWNLOAD       "true" (default): direct media URLs are fetched with libcurl;
//                         "false": everything goes through yt-dlp as before
//   DIRECT_MAX_REDIRECTS  redirects followed by a direct download (default 5, 0..20)
struct DirectOptions {
  bool enabled = true;
  int max_redirects = 5;
  // Resumptions (Range from the partial file's end) within one call after a connection broke
  // with bytes received; beyond them the error is returned and the partial file kept for the
  // next attempt.
  int max_resumes = 3;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds stall_timeout{std::chrono::seconds(30)};  // no byte for this long
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};        // the whole call
  std::int64_t max_media_bytes = std::int64_t{2} << 30;               // 0 = no limit
  std::function<bool()> should_stop;  // true aborts the transfer (transient "canceled")

  // DIRECT_* plus the shared limits of `ytdlp` (MAX_MEDIA_BYTES, YTDLP_TIMEOUT,
  // YTDLP_SOCKET_TIMEOUT).
  [[nodiscard]] static DirectOptions FromEnv(ConfigReader& env, const YtDlpOptions& ytdlp);
};

// Whether `url` is tried as a direct media URL (documented in libs/media/README.md):
//   - its path ends in a media file extension (.mp3 .m4a .mp4 .m4v .webm .ogg .oga .opus .wav
//     .flac .aac .mkv .mov .mpga .mpeg .mpg .weba); or
//   - discovery recorded it as a feed item (`video_key` starts with "feed:": the entry's URL is
//     its enclosure when it has one) and its path does not end in a page extension (.html .htm
//     .php .asp .aspx .jsp .xml).
// YouTube and other extractors' pages never are (their keys are not "feed:" and their paths
// carry no media extension). The answer's Content-Type decides the rest: a page (text/*, HTML,
// XML, JSON) ends the direct download with "not_media" before any body is stored, and the caller
// goes on with yt-dlp.
[[nodiscard]] bool IsDirectMediaCandidate(std::string_view url, std::string_view video_key);

// Error code DirectDownload returns when the URL answered with a page, not media.
inline constexpr const char* kNotMedia = "not_media";

// Downloads `url` into <media_dir>/<SanitizeId(video_id)>/media.<ext> (ext from the URL's media
// extension, else from the Content-Type, else "bin"), through a partial file
// <dir>/.direct.part that survives a failed attempt: the next attempt asks for the rest
// (`Range: bytes=<size>-`, with `If-Range` when the server gave a strong ETag or a Last-Modified;
// a 200 answer starts over). One attempt per video at a time (flock on the partial file; a
// second one gets transient "busy").
//   - http and https only, also on redirects; at most max_redirects redirects, each hop checked
//     by `policy` (Resolve) and the connection pinned to the addresses it resolved (no second
//     DNS lookup); every socket is checked again on its actual address (CheckConnect) before it
//     is created, so a refused destination never gets a packet. No proxy from the environment.
//   - over max_media_bytes (announced or received): permanent "media_too_large", nothing kept.
// Errors: HTTP 404/410 permanent "not_found", 403 "forbidden", other 4xx "http_error"; 429
// transient "rate_limited", 5xx "server_error", 408 and timeouts "timeout", broken connections
// "network"; too many redirects permanent "too_many_redirects"; refused destinations the
// policy's permanent errors; kNotMedia as above.
[[nodiscard]] Result<DownloadResult> DirectDownload(const std::string& url,
                                                    const std::string& video_id,
                                                    const std::filesystem::path& media_dir,
                                                    const net::DestinationPolicy& policy,
                                                    const DirectOptions& options);

}  // namespace chansum::media
