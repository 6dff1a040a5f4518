#include "ytdlp_command.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <regex>
#include <system_error>

#include "scratch_dir.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;

void ReplaceAll(std::string& text, const std::string& what, const std::string& with) {
  if (what.empty()) return;
  for (auto pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + with.size())) {
    text.replace(pos, what.size(), with);
  }
}

// The "user:password" part of a URL ("" when none).
std::string UserInfo(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  const auto rest = url.substr(scheme_end + 3);
  const auto authority = rest.substr(0, rest.find_first_of("/?#"));
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return {};
  return std::string(authority.substr(0, at));
}

}  // namespace

Status ValidateCookiesFile(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return Error::Permanent("invalid_cookies_file", "is not a readable regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::Permanent("invalid_cookies_file", "cannot be read");
  std::string line;
  if (!std::getline(in, line)) return Error::Permanent("invalid_cookies_file", "is empty");
  static const std::regex magic_line("#( Netscape)? HTTP Cookie File.*\r?");
  if (!std::regex_match(line, magic_line)) {
    const bool json = !line.empty() && (line[0] == '[' || line[0] == '{');
    return Error::Permanent("invalid_cookies_file",
                            json ? "holds JSON; yt-dlp needs a Netscape cookies file (first line "
                                   "\"# Netscape HTTP Cookie File\")"
                                 : "is not a Netscape cookies file (its first line must be "
                                   "\"# Netscape HTTP Cookie File\")");
  }
  int line_no = 1;
  int entries = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string_view l = line;
    if (l.starts_with("#HttpOnly_")) {
      l.remove_prefix(10);
    } else if (l.empty() || l.front() == '#' || l.front() == '$' ||
               l.find_first_not_of(" \t") == std::string_view::npos) {
      continue;
    }
    std::vector<std::string_view> fields;
    for (std::size_t pos = 0;;) {
      const auto tab = l.find('\t', pos);
      fields.push_back(l.substr(pos, tab == std::string_view::npos ? l.size() - pos : tab - pos));
      if (tab == std::string_view::npos) break;
      pos = tab + 1;
    }
    // Only the line number and the field count: the values are the secret.
    if (fields.size() != 7) {
      return Error::Permanent("invalid_cookies_file",
                              "line " + std::to_string(line_no) + " has " +
                                  std::to_string(fields.size()) +
                                  " tab-separated fields, a cookie entry has 7");
    }
    if (!std::all_of(fields[4].begin(), fields[4].end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return Error::Permanent("invalid_cookies_file",
                              "line " + std::to_string(line_no) + ": the expiry is not a number");
    }
    ++entries;
  }
  if (entries == 0) return Error::Permanent("invalid_cookies_file", "holds no cookie entry");
  return OkStatus();
}

Status ValidateProxyUrl(std::string_view proxy) {
  static const std::regex proxy_pattern(
      R"(^(https?|socks4a?|socks5h?)://([^/?#@\s]+@)?[^/?#@\s:]+(:\d{1,5})?/?$)",
      std::regex::icase);
  if (!std::regex_match(proxy.begin(), proxy.end(), proxy_pattern)) {
    return Error::Permanent(
        "invalid_proxy",
        "'" + RedactProxy(proxy) +
            "' is not a proxy URL like http://host:3128 or socks5://user:pass@host:1080");
  }
  return OkStatus();
}

std::string RedactProxy(std::string_view proxy) {
  std::string out(proxy);
  const std::string user_info = UserInfo(proxy);
  if (!user_info.empty()) {
    const auto pos = out.find(user_info + "@");
    if (pos != std::string::npos) out.replace(pos, user_info.size(), "***");
  }
  return out;
}

std::string ScrubSecrets(std::string text, const YtDlpOptions& options) {
  if (!options.proxy.empty()) {
    const std::string user_info = UserInfo(options.proxy);
    ReplaceAll(text, options.proxy, RedactProxy(options.proxy));
    ReplaceAll(text, user_info, "***");
    // Python may print the parts apart (e.g. only the password, or URL-decoded).
    if (const auto colon = user_info.find(':'); colon != std::string::npos) {
      ReplaceAll(text, user_info.substr(colon + 1), "***");
    }
  }
  if (!options.cookies_file.empty()) ReplaceAll(text, options.cookies_file, "***");
  return text;
}

std::vector<std::string> YtDlpBaseArgs(const YtDlpOptions& options) {
  const auto socket_s = std::max<long long>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options.socket_timeout).count());
  std::vector<std::string> argv = {options.binary,          "--ignore-config", "--no-warnings",
                                   "--no-progress",         "--no-color",      "--socket-timeout",
                                   std::to_string(socket_s)};
  if (!options.proxy.empty()) argv.insert(argv.end(), {"--proxy", options.proxy});
  // yt-dlp's own downloaders honour --proxy; an external one need not (ffmpeg connects to https
  // HLS/DASH URLs itself, past the egress proxy): with the proxy, only the native ones.
  if (options.egress_proxy) argv.insert(argv.end(), {"--downloader", "native"});
  return argv;
}

ProcessOptions YtDlpProcessOptions(const YtDlpOptions& options, std::chrono::milliseconds timeout) {
  ProcessOptions p;
  p.timeout = timeout;
  p.kill_grace = options.kill_grace;
  p.should_stop = options.should_stop;
  p.env = {{"PYTHONUTF8", "1"}, {"PYTHONIOENCODING", "utf-8"}};
  // Python reads an empty no_proxy as none: every request goes through the egress proxy.
  if (options.egress_proxy) p.env.insert(p.env.end(), {{"no_proxy", ""}, {"NO_PROXY", ""}});
  return p;
}

Result<ProcessResult> RunYtDlp(std::vector<std::string> argv, const YtDlpOptions& options,
                               std::chrono::milliseconds timeout) {
  std::optional<RemoveTreeOnExit> cleanup;
  if (!options.cookies_file.empty()) {
    auto dir = MakeScratchDir(fs::temp_directory_path(), "chansum-cookies-");
    if (!dir.ok()) return std::move(dir).error();
    cleanup.emplace(*dir);
    std::error_code ec;
    fs::permissions(*dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return Error::Transient("io_error", "cannot make the cookies directory private");
    const fs::path copy = *dir / "cookies.txt";
    {
      std::ifstream in(options.cookies_file, std::ios::binary);
      // The directory is 0700 before the file exists; the file is made 0600 before it is filled.
      std::ofstream out(copy, std::ios::binary | std::ios::trunc);
      fs::permissions(copy, fs::perms::owner_read | fs::perms::owner_write,
                      fs::perm_options::replace, ec);
      if (!in || !out || ec) {
        return Error::Transient("cookies_unreadable",
                                "cannot copy YTDLP_COOKIES_FILE for a yt-dlp run");
      }
      out << in.rdbuf();
      if (!out.flush()) {
        return Error::Transient("io_error", "cannot copy YTDLP_COOKIES_FILE for a yt-dlp run");
      }
    }
    argv.insert(argv.begin() + 1, {"--cookies", copy.string()});
  }
  auto run = RunProcess(argv, YtDlpProcessOptions(options, timeout));
  if (!run.ok()) return run;
  run->stderr_tail = ScrubSecrets(std::move(run->stderr_tail), options);
  if (cleanup) {
    // The private copy's name is as secret as the original's.
    YtDlpOptions copy_named = options;
    copy_named.proxy.clear();
    copy_named.cookies_file = (cleanup->path / "cookies.txt").string();
    run->stderr_tail = ScrubSecrets(std::move(run->stderr_tail), copy_named);
  }
  return run;
}

std::string EscapeOutputTemplate(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%') out.push_back('%');
    out.push_back(c);
  }
  return out;
}

}  // namespace chansum::media
