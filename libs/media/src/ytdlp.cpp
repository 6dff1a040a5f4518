// yt-dlp runs: discovery and download (the command lines and what is done with their output).
#include "chansum/media/ytdlp.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <system_error>

#include "chansum/media/channel.hpp"
#include "media_limits.hpp"
#include "scratch_dir.hpp"
#include "strings.hpp"
#include "ytdlp_command.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxPlaylistEnd = 100000;

}  // namespace

YtDlpOptions YtDlpOptions::FromEnv(ConfigReader& env) {
  YtDlpOptions o;
  o.binary = env.String("YTDLP_BIN", o.binary);
  o.discover_timeout = env.Duration("YTDLP_DISCOVER_TIMEOUT", o.discover_timeout);
  o.download_timeout = env.Duration("YTDLP_TIMEOUT", o.download_timeout);
  o.socket_timeout = env.Duration("YTDLP_SOCKET_TIMEOUT", o.socket_timeout);
  o.format = env.String("YTDLP_FORMAT", o.format);
  o.max_media_bytes = env.Int("MAX_MEDIA_BYTES", o.max_media_bytes, 0, std::int64_t{1} << 50);
  o.max_media_seconds = MaxMediaSecondsFromEnv(env, o.max_media_seconds);
  o.cookies_file = env.String("YTDLP_COOKIES_FILE", "");
  if (!o.cookies_file.empty()) {
    // The file's name and contents stay out of the message (a secret mount's path is harmless,
    // but the rule is simpler without exceptions).
    if (auto valid = ValidateCookiesFile(o.cookies_file); !valid.ok()) {
      env.AddProblem("YTDLP_COOKIES_FILE " + valid.error().message);
    }
  }
  o.proxy = env.String("YTDLP_PROXY", "");
  if (!o.proxy.empty()) {
    if (auto valid = ValidateProxyUrl(o.proxy); !valid.ok()) {
      env.AddProblem("YTDLP_PROXY: " + valid.error().message);
    }
  }
  return o;
}

std::vector<std::string> DiscoverArgs(const std::string& url, int playlist_end,
                                      const YtDlpOptions& options) {
  const int end = std::clamp(playlist_end, 1, kMaxPlaylistEnd);
  auto argv = YtDlpBaseArgs(options);
  argv.insert(argv.end(),
              {"--flat-playlist", "-J", "--playlist-end", std::to_string(end), "--", url});
  return argv;
}

Result<Playlist> DiscoverPlaylist(const std::string& url, int max_videos,
                                  const YtDlpOptions& options) {
  if (auto valid = ValidateHttpUrl(url); !valid.ok()) return valid.error();
  auto run = RunYtDlp(DiscoverArgs(url, max_videos, options), options, options.discover_timeout);
  if (!run.ok()) return std::move(run).error();
  if (!run->Succeeded()) return ClassifyYtDlpFailure(*run, options.binary);
  auto playlist = ParsePlaylist(run->stdout_data);
  if (!playlist.ok()) return std::move(playlist).error();
  std::erase_if(playlist->entries, [](const VideoEntry& e) { return e.IsLiveOrUpcoming(); });
  return playlist;
}

Result<std::vector<VideoEntry>> Discover(const std::string& url, int max_videos,
                                         const YtDlpOptions& options) {
  auto playlist = DiscoverPlaylist(url, max_videos, options);
  if (!playlist.ok()) return std::move(playlist).error();
  return std::move(playlist->entries);
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
  auto scratch = MakeScratchDir(dir, ".download-");
  if (!scratch.ok()) return std::move(scratch).error();
  const fs::path tmp = *scratch;
  const RemoveTreeOnExit cleanup{tmp};

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
  const std::string out_template = EscapeOutputTemplate(tmp.string()) + "/media.%(ext)s";
  auto argv = YtDlpBaseArgs(options);
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

  auto run = RunYtDlp(std::move(argv), options, options.download_timeout);
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
