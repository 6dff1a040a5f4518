#include "chansum/media/ytdlp.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <system_error>

#include "chansum/media/channel.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kMaxNesting = 8;
constexpr std::size_t kMaxIdLength = 64;
constexpr int kMaxPlaylistEnd = 100000;

std::uint64_t Fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

bool Contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

bool ContainsNoCase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool match = true;
    for (std::size_t k = 0; k < needle.size(); ++k) {
      if (std::tolower(static_cast<unsigned char>(hay[i + k])) !=
          std::tolower(static_cast<unsigned char>(needle[k]))) {
        match = false;
        break;
      }
    }
    if (match) return true;
  }
  return false;
}

bool IsHttpUrl(std::string_view s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) != 0 &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2])) != 0) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// yt-dlp's generic extractor "smuggles" data into entry URLs of feeds:
// "http://h/v1.mp4#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22demo-v1%22%7D".
// Returns the URL without it and the forced id (the feed item's guid), if any.
std::pair<std::string, std::string> Unsmuggle(std::string_view url) {
  constexpr std::string_view kMarker = "#__youtubedl_smuggle=";
  const auto pos = url.find(kMarker);
  if (pos == std::string_view::npos) return {std::string(url), {}};
  std::string id;
  const json data = json::parse(PercentDecode(url.substr(pos + kMarker.size())), nullptr, false);
  if (data.is_object() && data.contains("force_videoid") && data["force_videoid"].is_string()) {
    id = data["force_videoid"].get<std::string>();
  }
  return {std::string(url.substr(0, pos)), id};
}

// Last path component without its extension, e.g. "v1" for "http://h/a/v1.mp4?x=1".
std::string IdFromUrl(std::string_view url) {
  auto end = url.find_first_of("?#");
  if (end == std::string_view::npos) end = url.size();
  std::string_view path = url.substr(0, end);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (const auto dot = base.rfind('.'); dot != std::string_view::npos && dot > 0) {
    base = base.substr(0, dot);
  }
  if (base.empty() || Contains(base, ":")) return fmt::format("u{:016x}", Fnv1a(url));
  return SanitizeId(PercentDecode(base));
}

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

std::string EscapeTemplate(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%') out.push_back('%');
    out.push_back(c);
  }
  return out;
}

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:012x}", rng() & 0xffffffffffffULL);
}

std::string StripBoilerplate(std::string text) {
  constexpr std::string_view kReport = "; please report this issue on";
  for (auto pos = text.find(kReport); pos != std::string::npos; pos = text.find(kReport, pos)) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    text.erase(pos, end - pos);
  }
  return text;
}

std::vector<std::string> BaseArgs(const YtDlpOptions& options) {
  const auto socket_s = std::max<long long>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options.socket_timeout).count());
  return {options.binary, "--ignore-config",  "--no-warnings",         "--no-progress",
          "--no-color",   "--socket-timeout", std::to_string(socket_s)};
}

ProcessOptions MakeProcessOptions(const YtDlpOptions& options, std::chrono::milliseconds timeout) {
  ProcessOptions p;
  p.timeout = timeout;
  p.kill_grace = options.kill_grace;
  p.should_stop = options.should_stop;
  p.env = {{"PYTHONUTF8", "1"}, {"PYTHONIOENCODING", "utf-8"}};
  return p;
}

}  // namespace

YtDlpOptions YtDlpOptions::FromEnv(ConfigReader& env) {
  YtDlpOptions o;
  o.binary = env.String("YTDLP_BIN", o.binary);
  o.discover_timeout = env.Duration("YTDLP_DISCOVER_TIMEOUT", o.discover_timeout);
  o.download_timeout = env.Duration("YTDLP_TIMEOUT", o.download_timeout);
  o.socket_timeout = env.Duration("YTDLP_SOCKET_TIMEOUT", o.socket_timeout);
  o.format = env.String("YTDLP_FORMAT", o.format);
  o.max_media_bytes = env.Int("MAX_MEDIA_BYTES", o.max_media_bytes, 0, std::int64_t{1} << 50);
  o.max_media_seconds =
      env.Int("MAX_MEDIA_SECONDS", o.max_media_seconds, 0, std::int64_t{7} * 24 * 3600);
  return o;
}

std::string SanitizeId(std::string_view id) {
  const bool safe =
      !id.empty() && id.size() <= kMaxIdLength && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
      });
  if (safe) return std::string(id);
  std::string mapped;
  for (char c : id.substr(0, 47)) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
    mapped.push_back(ok ? c : '_');
  }
  if (mapped.empty()) mapped = "id";
  return fmt::format("{}-{:016x}", mapped, Fnv1a(id));
}

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

Error ClassifyYtDlpFailure(const ProcessResult& result, std::string_view program) {
  ProcessResult cleaned = result;
  cleaned.stderr_tail = StripBoilerplate(result.stderr_tail);
  const std::string message = DescribeFailure(cleaned, program);
  if (result.timed_out) return Error::Transient("timeout", message);
  if (result.canceled) return Error::Transient("canceled", message);

  // Judge by the last ERROR line when there is one: earlier lines may be retried warnings.
  std::string_view text = cleaned.stderr_tail;
  if (const auto pos = text.rfind("ERROR:"); pos != std::string_view::npos) {
    text = text.substr(pos);
    text = text.substr(0, text.find('\n'));
  }

  // HTTP status codes, as in "HTTP Error 404: Not Found".
  if (const auto pos = text.find("HTTP Error "); pos != std::string_view::npos) {
    const auto digits = text.substr(pos + 11, 3);
    if (digits.size() == 3 && std::all_of(digits.begin(), digits.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        })) {
      const int status = std::stoi(std::string(digits));
      if (status == 429) return Error::Transient("rate_limited", message);
      if (status >= 500) return Error::Transient("server_error", message);
      if (status == 404 || status == 410) return Error::Permanent("not_found", message);
      if (status == 403) return Error::Permanent("forbidden", message);
      if (status >= 400) return Error::Permanent("http_error", message);
    }
  }

  struct Rule {
    std::string_view phrase;
    ErrorClass cls;
    const char* code;
  };
  static constexpr Rule kRules[] = {
      {"confirm you're not a bot", ErrorClass::kTransient, "rate_limited"},
      {"confirm you\xE2\x80\x99re not a bot", ErrorClass::kTransient, "rate_limited"},
      {"Unsupported URL", ErrorClass::kPermanent, "unsupported_url"},
      {"is not a valid URL", ErrorClass::kPermanent, "unsupported_url"},
      {"Video unavailable", ErrorClass::kPermanent, "video_unavailable"},
      {"video is unavailable", ErrorClass::kPermanent, "video_unavailable"},
      {"video is not available", ErrorClass::kPermanent, "video_unavailable"},
      {"has been removed", ErrorClass::kPermanent, "video_unavailable"},
      {"has been terminated", ErrorClass::kPermanent, "video_unavailable"},
      {"not made this video available in your country", ErrorClass::kPermanent,
       "video_unavailable"},
      {"Private video", ErrorClass::kPermanent, "private_video"},
      {"video is private", ErrorClass::kPermanent, "private_video"},
      {"Sign in to confirm your age", ErrorClass::kPermanent, "login_required"},
      {"members-only", ErrorClass::kPermanent, "login_required"},
      {"This live event will begin", ErrorClass::kPermanent, "live_not_started"},
      {"Premieres in", ErrorClass::kPermanent, "live_not_started"},
      {"does not exist", ErrorClass::kPermanent, "not_found"},
      {"does not have a", ErrorClass::kPermanent, "not_found"},
      {"Requested format is not available", ErrorClass::kPermanent, "no_formats"},
      {"No video formats found", ErrorClass::kPermanent, "no_formats"},
      {"timed out", ErrorClass::kTransient, "network"},
      {"Connection refused", ErrorClass::kTransient, "network"},
      {"Connection reset", ErrorClass::kTransient, "network"},
      {"Connection aborted", ErrorClass::kTransient, "network"},
      {"Remote end closed connection", ErrorClass::kTransient, "network"},
      {"IncompleteRead", ErrorClass::kTransient, "network"},
      {"Name or service not known", ErrorClass::kTransient, "network"},
      {"Temporary failure in name resolution", ErrorClass::kTransient, "network"},
      {"Network is unreachable", ErrorClass::kTransient, "network"},
      {"No route to host", ErrorClass::kTransient, "network"},
      {"EOF occurred in violation of protocol", ErrorClass::kTransient, "network"},
      {"No space left on device", ErrorClass::kTransient, "disk_full"},
  };
  for (const auto& rule : kRules) {
    if (ContainsNoCase(text, rule.phrase)) return Error{rule.cls, rule.code, message};
  }
  // Exit code 2 is a usage error ("yt-dlp: error: no such option"): retrying cannot help.
  if (result.exit_code == 2 && Contains(cleaned.stderr_tail, "error:")) {
    return Error::Permanent("bad_arguments", message);
  }
  return Error::Transient("ytdlp_failed", message);
}

Result<std::vector<VideoEntry>> Discover(const std::string& url, int max_videos,
                                         const YtDlpOptions& options) {
  if (auto valid = ValidateHttpUrl(url); !valid.ok()) return valid.error();
  const int end = std::clamp(max_videos, 1, kMaxPlaylistEnd);
  auto argv = BaseArgs(options);
  argv.insert(argv.end(),
              {"--flat-playlist", "-J", "--playlist-end", std::to_string(end), "--", url});
  auto run = RunProcess(argv, MakeProcessOptions(options, options.discover_timeout));
  if (!run.ok()) return std::move(run).error();
  if (!run->Succeeded()) return ClassifyYtDlpFailure(*run, options.binary);
  auto playlist = ParsePlaylist(run->stdout_data);
  if (!playlist.ok()) return std::move(playlist).error();
  std::vector<VideoEntry> out;
  for (auto& e : playlist->entries) {
    if (e.IsLiveOrUpcoming()) continue;
    out.push_back(std::move(e));
  }
  return out;
}

Result<DownloadResult> Download(const std::string& video_url, const std::string& video_id,
                                const std::filesystem::path& media_dir,
                                const YtDlpOptions& options) {
  if (auto valid = ValidateHttpUrl(video_url); !valid.ok()) return valid.error();
  const fs::path dir = fs::absolute(media_dir) / SanitizeId(video_id);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Error::Transient("io_error", "cannot create " + dir.string() + ": " + ec.message());
  }
  // A private directory per attempt: concurrent duplicates and killed runs cannot mix files.
  const fs::path tmp = dir / (".download-" + RandomSuffix());
  fs::create_directory(tmp, ec);
  if (ec) {
    return Error::Transient("io_error", "cannot create " + tmp.string() + ": " + ec.message());
  }
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } cleanup{tmp};

  // Temporary directories of attempts that died long ago (a killed worker cannot clean up).
  const auto stale_before =
      fs::file_time_type::clock::now() - 2 * options.download_timeout - std::chrono::hours(1);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::error_code entry_ec;
    if (entry.path().filename().string().rfind(".download-", 0) == 0 && entry.path() != tmp &&
        entry.is_directory(entry_ec) && entry.last_write_time(entry_ec) < stale_before &&
        !entry_ec) {
      fs::remove_all(entry.path(), entry_ec);
    }
  }

  // '%' in the directory would be read as part of yt-dlp's output template.
  const std::string out_template = EscapeTemplate(tmp.string()) + "/media.%(ext)s";
  auto argv = BaseArgs(options);
  argv.insert(argv.end(), {"--no-playlist", "--no-part", "--restrict-filenames", "--no-mtime"});
  if (options.max_media_bytes > 0) {
    argv.insert(argv.end(), {"--max-filesize", std::to_string(options.max_media_bytes)});
  }
  if (options.max_media_seconds > 0) {
    // "<=?": a video whose duration yt-dlp does not know passes here (checked after extraction).
    argv.insert(argv.end(),
                {"--match-filter", "duration <=? " + std::to_string(options.max_media_seconds)});
  }
  argv.insert(argv.end(), {"-f", options.format, "-o", out_template, "--", video_url});

  auto run = RunProcess(argv, MakeProcessOptions(options, options.download_timeout));
  if (!run.ok()) return std::move(run).error();
  if (!run->Succeeded()) return ClassifyYtDlpFailure(*run, options.binary);

  // The largest complete "media.*" file yt-dlp left in the temporary directory.
  fs::path best;
  std::uintmax_t best_size = 0;
  for (const auto& entry : fs::directory_iterator(tmp, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.rfind("media.", 0) != 0) continue;
    if (name.ends_with(".part") || name.ends_with(".ytdl") || name.ends_with(".temp")) continue;
    const auto size = entry.file_size(ec);
    if (!ec && (best.empty() || size > best_size)) {
      best = entry.path();
      best_size = size;
    }
  }
  // yt-dlp skips a video over a limit and exits 0 without a file; it says so on stdout.
  const std::string said = run->stdout_data + "\n" + run->stderr_tail;
  if (best.empty() && Contains(said, "max-filesize")) {
    return Error::Permanent(
        "media_too_large",
        fmt::format("media is larger than MAX_MEDIA_BYTES={}", options.max_media_bytes));
  }
  if (best.empty() && Contains(said, "does not pass filter")) {
    return Error::Permanent(
        "media_too_long",
        fmt::format("media is longer than MAX_MEDIA_SECONDS={} s", options.max_media_seconds));
  }
  if (!best.empty() && options.max_media_bytes > 0 &&
      best_size > static_cast<std::uintmax_t>(options.max_media_bytes)) {
    return Error::Permanent("media_too_large",
                            fmt::format("media is {} bytes, larger than MAX_MEDIA_BYTES={}",
                                        best_size, options.max_media_bytes));
  }
  if (best.empty()) {
    return Error::Permanent(
        "no_media",
        options.binary + " finished without writing a media file" +
            (run->stderr_tail.empty() ? std::string() : ": " + CleanText(run->stderr_tail)));
  }
  if (best_size == 0) {
    return Error::Permanent("no_media", options.binary + " wrote an empty media file");
  }
  const fs::path final_path = dir / best.filename();
  fs::rename(best, final_path, ec);
  if (ec) {
    return Error::Transient("io_error", "cannot move " + best.string() + " to " +
                                            final_path.string() + ": " + ec.message());
  }
  // Media files of earlier attempts with another extension are stale now.
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind("media.", 0) == 0 && entry.path() != final_path) {
      std::error_code ignored;
      fs::remove(entry.path(), ignored);
    }
  }
  return DownloadResult{final_path, static_cast<std::uint64_t>(best_size)};
}

}  // namespace chansum::media
