// KeyForEntry: the source-scoped key a listed video is stored under (issue 18 §3.6).
#include <algorithm>
#include <cctype>

#include "chansum/common/sha256.hpp"
#include "chansum/common/strings.hpp"
#include "chansum/media/feed.hpp"
#include "chansum/media/ytdlp.hpp"
#include "strings.hpp"

namespace chansum::media {
namespace {

bool IsYoutubeHost(const std::string& host) {
  for (std::string_view h : {"youtube.com", "youtu.be", "youtube-nocookie.com"}) {
    if (host == h ||
        (host.size() > h.size() && host.ends_with(h) && host[host.size() - h.size() - 1] == '.')) {
      return true;
    }
  }
  return false;
}

// YouTube's ids: 11 characters of [A-Za-z0-9_-].
bool IsYoutubeId(std::string_view id) {
  return id.size() == 11 && std::all_of(id.begin(), id.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
         });
}

// yt-dlp's extractor names ("Vimeo", "BiliBili", "TwitchVod") are short runs of letters and
// digits; anything else is not taken as a source (its entries are keyed like a feed's). The bound
// keeps "<source>:<id>" within the key's 128 characters: playlist_fuzz found a 64-character
// sanitized name that made a 129-character key.
bool IsExtractorName(std::string_view name) {
  return !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0;
  });
}

}  // namespace

std::string CanonicalMediaUrl(std::string_view url) {
  url = url.substr(0, url.find('#'));
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const auto authority_end = url.find_first_of("/?", scheme_end + 3);
  const std::string scheme = AsciiLower(url.substr(0, scheme_end));
  std::string authority = AsciiLower(url.substr(
      scheme_end + 3, authority_end == std::string_view::npos ? std::string_view::npos
                                                              : authority_end - scheme_end - 3));
  if ((scheme == "http" && authority.ends_with(":80")) ||
      (scheme == "https" && authority.ends_with(":443"))) {
    authority.erase(authority.rfind(':'));
  }
  std::string rest =
      authority_end == std::string_view::npos ? "/" : std::string(url.substr(authority_end));
  if (rest.front() == '?') rest.insert(0, "/");
  return scheme + "://" + authority + rest;
}

SourceKey KeyForEntry(std::string_view ie_key, std::string_view id, std::string_view url) {
  // yt-dlp names its extractors "Youtube", "Generic", ...; the case is not trusted (a listing is
  // text from the channel's side), so "youtube" is the YouTube extractor too, never a source of
  // its own: playlist_fuzz found "youtube" keyed as "youtube:<id>" with source "youtube".
  const std::string extractor = AsciiLower(ie_key);
  const bool youtube_extractor = extractor == "youtube";
  if ((youtube_extractor || (ie_key.empty() && IsYoutubeHost(UrlHost(url)))) && IsYoutubeId(id)) {
    return {"youtube", std::string(id)};
  }
  const std::string safe_id = SanitizeId(id.empty() ? std::string_view("video") : id);
  if (IsExtractorName(extractor) && extractor != "generic" && extractor != "feed" &&
      !youtube_extractor) {
    return {extractor, extractor + ":" + safe_id};
  }
  return {"feed", "feed:" + safe_id + ":" + Sha256Hex(CanonicalMediaUrl(url)).substr(0, 16)};
}

}  // namespace chansum::media
