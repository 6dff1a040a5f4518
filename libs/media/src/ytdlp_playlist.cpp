// ParsePlaylist: the JSON of `yt-dlp --flat-playlist -J` to the videos it lists.
#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "chansum/media/channel.hpp"
#include "chansum/media/feed.hpp"
#include "chansum/media/ytdlp.hpp"
#include "strings.hpp"
#include "ytdlp_url.hpp"

namespace chansum::media {
namespace {

using nlohmann::json;

constexpr int kMaxNesting = 8;

std::string StringField(const json& node, const char* key) {
  const auto it = node.find(key);
  if (it == node.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::optional<double> NumberField(const json& node, const char* key) {
  const auto it = node.find(key);
  if (it == node.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

std::string FormatEpoch(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 253402300799.0) return {};
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return {};
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return {};
  return buf;
}

// "20230306" -> "2023-03-06T00:00:00Z".
std::string FormatYyyymmdd(std::string_view d) {
  if (d.size() != 8 || !std::all_of(d.begin(), d.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
      })) {
    return {};
  }
  const int month = std::stoi(std::string(d.substr(4, 2)));
  const int day = std::stoi(std::string(d.substr(6, 2)));
  if (month < 1 || month > 12 || day < 1 || day > 31) return {};
  return fmt::format("{}-{}-{}T00:00:00Z", d.substr(0, 4), d.substr(4, 2), d.substr(6, 2));
}

std::string PublishedAt(const json& node) {
  for (const char* key : {"timestamp", "release_timestamp"}) {
    if (auto v = NumberField(node, key)) {
      if (auto s = FormatEpoch(*v); !s.empty()) return s;
    }
  }
  for (const char* key : {"upload_date", "release_date"}) {
    if (auto s = FormatYyyymmdd(StringField(node, key)); !s.empty()) return s;
  }
  return {};
}

// A flat "url" entry that points at another tab or playlist rather than at a video.
bool IsPlaylistLink(const json& node, std::string_view url) {
  const std::string ie_key = StringField(node, "ie_key");
  if (ie_key == "YoutubeTab" || ie_key == "YoutubePlaylist") return true;
  if (Contains(url, "youtube.com/") &&
      (Contains(url, "/playlist?") || url.ends_with("/videos") || url.ends_with("/shorts") ||
       url.ends_with("/streams") || url.ends_with("/featured"))) {
    return true;
  }
  return false;
}

struct Collector {
  std::vector<VideoEntry> entries;
  std::set<std::string> ids;
  std::set<std::string> urls;

  void Add(const json& node) {
    const std::string type = StringField(node, "_type");
    std::string url = StringField(node, "webpage_url");
    if (!IsHttpUrl(url)) url = StringField(node, "url");
    std::string id = StringField(node, "id");
    const std::string ie_key = StringField(node, "ie_key");
    auto [clean_url, forced_id] = Unsmuggle(url);
    url = clean_url;
    if (!IsHttpUrl(url) || !ValidateHttpUrl(url).ok()) {
      // Older flat YouTube entries carry only the id in "url".
      if (ie_key == "Youtube" && !id.empty()) {
        url = "https://www.youtube.com/watch?v=" + id;
      } else {
        return;
      }
    }
    // Download refuses a URL ValidateHttpUrl rejects (e.g. "https://www.yout://..."): such an
    // entry is no video we could fetch (found by playlist_fuzz).
    if (!ValidateHttpUrl(url).ok()) return;
    if ((type == "url" || type == "url_transparent") && IsPlaylistLink(node, url)) return;
    if (id.empty()) id = forced_id;
    if (id.empty()) id = IdFromUrl(url);
    if (urls.count(url) != 0) return;  // the same video listed twice (e.g. in two tabs)
    if (ids.count(id) != 0) id += fmt::format("-{:08x}", Fnv1a(url) & 0xffffffffULL);

    VideoEntry e;
    e.id = id;
    auto key = KeyForEntry(ie_key.empty() ? StringField(node, "extractor_key") : ie_key, id, url);
    e.key = std::move(key.key);
    e.source = std::move(key.source);
    e.title = CleanText(StringField(node, "title"));
    if (e.title.empty()) e.title = id;
    e.url = url;
    e.duration = NumberField(node, "duration");
    e.published_at = PublishedAt(node);
    e.live_status = StringField(node, "live_status");
    if (e.live_status.empty()) {
      if (auto it = node.find("is_live"); it != node.end() && it->is_boolean() && it->get<bool>()) {
        e.live_status = "is_live";
      }
    }
    ids.insert(e.id);
    urls.insert(e.url);
    entries.push_back(std::move(e));
  }

  void Walk(const json& node, int depth) {
    if (!node.is_object() || depth > kMaxNesting) return;
    const auto entries_it = node.find("entries");
    if (StringField(node, "_type") == "playlist" || entries_it != node.end()) {
      if (entries_it == node.end() || !entries_it->is_array()) return;
      for (const auto& child : *entries_it) Walk(child, depth + 1);  // null entries are skipped
      return;
    }
    Add(node);
  }
};

}  // namespace

Result<Playlist> ParsePlaylist(std::string_view text) {
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) {
    return Error::Permanent("invalid_ytdlp_output", "yt-dlp printed malformed JSON");
  }
  if (!doc.is_object()) {
    return Error::Permanent("invalid_ytdlp_output", "yt-dlp printed JSON that is not an object");
  }
  Playlist playlist;
  playlist.id = StringField(doc, "id");
  playlist.title = CleanText(StringField(doc, "title"));
  // A listing of a YouTube channel (a channel URL, a handle, a channel tab) is identified by the
  // channel's UC… id. A playlist's "channel_id" names its owner, whose uploads feed is not the
  // playlist: only the listing's own id counts.
  if (IsChannelId(playlist.id)) playlist.channel_id = playlist.id;
  Collector collector;
  collector.Walk(doc, 0);
  playlist.entries = std::move(collector.entries);
  return playlist;
}

Result<std::vector<VideoEntry>> ParseFlatPlaylist(std::string_view json_text) {
  auto playlist = ParsePlaylist(json_text);
  if (!playlist.ok()) return std::move(playlist).error();
  return std::move(playlist->entries);
}

}  // namespace chansum::media
