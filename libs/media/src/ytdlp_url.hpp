#pragma once
// URL helpers of the playlist parser: what yt-dlp's entries carry in their URLs.
#include <string>
#include <string_view>
#include <utility>

namespace chansum::media {

[[nodiscard]] bool IsHttpUrl(std::string_view s);

// %XX and '+' decoded (as in a query string).
[[nodiscard]] std::string PercentDecode(std::string_view s);

// yt-dlp's generic extractor "smuggles" data into entry URLs of feeds:
// "http://h/v1.mp4#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22demo-v1%22%7D".
// Returns the URL without it and the forced id (the feed item's guid), if any.
[[nodiscard]] std::pair<std::string, std::string> Unsmuggle(std::string_view url);

// Last path component without its extension, e.g. "v1" for "http://h/a/v1.mp4?x=1", made safe by
// SanitizeId; a hash of the URL when there is none.
[[nodiscard]] std::string IdFromUrl(std::string_view url);

}  // namespace chansum::media
