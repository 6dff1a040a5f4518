// Direct media downloads with libcurl (direct.hpp).
#include "chansum/media/direct.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "chansum/common/logging.hpp"
#include "chansum/common/strings.hpp"
#include "chansum/net/curl_handles.hpp"
#include "chansum/net/curl_pinned.hpp"
#include "curl_exchange.hpp"
#include "strings.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::array<std::string_view, 17> kMediaExtensions = {
    "mp3",  "m4a", "mp4", "m4v", "webm", "ogg",  "oga", "opus", "wav",
    "flac", "aac", "mkv", "mov", "mpga", "mpeg", "mpg", "weba"};
constexpr std::array<std::string_view, 7> kPageExtensions = {"html", "htm", "php", "asp",
                                                             "aspx", "jsp", "xml"};

constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kContentTypeExtensions = {{
    {"audio/mpeg", "mp3"},
    {"audio/mp3", "mp3"},
    {"audio/mp4", "m4a"},
    {"audio/x-m4a", "m4a"},
    {"video/mp4", "mp4"},
    {"video/webm", "webm"},
    {"audio/webm", "weba"},
    {"audio/ogg", "ogg"},
    {"audio/opus", "opus"},
    {"audio/wav", "wav"},
    {"audio/x-wav", "wav"},
    {"audio/flac", "flac"},
}};

// The lower-case extension of the URL's path (no query, no fragment), or "".
std::string UrlPathExtension(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  std::string_view rest = url.substr(scheme + 3);
  const auto slash = rest.find_first_of("/?#");
  if (slash == std::string_view::npos || rest[slash] != '/') return "";
  std::string_view path = rest.substr(slash);
  path = path.substr(0, path.find_first_of("?#"));
  const auto last = path.rfind('/');
  const std::string_view name = path.substr(last + 1);
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 >= name.size()) return "";
  return AsciiLower(name.substr(dot + 1));
}

bool IsMediaExtension(std::string_view ext) {
  return std::find(kMediaExtensions.begin(), kMediaExtensions.end(), ext) != kMediaExtensions.end();
}

// A Content-Type that names a page or a document, not media.
bool IsPageContentType(std::string_view content_type) {
  std::string type = AsciiLower(content_type.substr(0, content_type.find(';')));
  type = std::string(TrimWhitespace(type));
  return type.rfind("text/", 0) == 0 || type == "application/xhtml+xml" ||
         type == "application/xml" || type == "application/json" || type.ends_with("+xml") ||
         type.ends_with("+json");
}

std::string ExtensionForContentType(std::string_view content_type) {
  std::string type = AsciiLower(content_type.substr(0, content_type.find(';')));
  type = std::string(TrimWhitespace(type));
  for (const auto& [t, ext] : kContentTypeExtensions) {
    if (type == t) return std::string(ext);
  }
  return "bin";
}

std::string ErrnoText() { return std::error_code(errno, std::generic_category()).message(); }

using net::CurlPtr;
using net::SlistPtr;

// What one request saw (callbacks write here).
struct Exchange : CurlExchange {
  const DirectOptions* options = nullptr;

  int fd = -1;
  std::int64_t offset = 0;  // bytes of the partial file before this request
  bool ranged = false;      // asked for bytes from `offset`
  std::int64_t received = 0;
  bool body_started = false;
  bool storing = false;  // the body goes into the file

  long status = 0;
  std::string content_type;
  std::string content_range;
  std::string etag;
  std::string last_modified;
  std::optional<std::int64_t> content_length;
};

std::optional<std::int64_t> ParseInt64(std::string_view text) {
  text = TrimWhitespace(text);
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* userp) {
  auto* ex = static_cast<Exchange*>(userp);
  const std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (an interim 1xx was before it): forget earlier headers.
    const auto sp = line.find(' ');
    ex->status = 0;
    if (sp != std::string_view::npos && line.size() >= sp + 4) {
      ex->status = static_cast<long>(ParseInt64(line.substr(sp + 1, 3)).value_or(0));
    }
    ex->content_type.clear();
    ex->content_range.clear();
    ex->etag.clear();
    ex->last_modified.clear();
    ex->content_length.reset();
    return size * n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  const std::string name = AsciiLower(TrimWhitespace(line.substr(0, colon)));
  const std::string value(TrimWhitespace(line.substr(colon + 1)));
  if (name == "content-type") ex->content_type = value;
  if (name == "content-range") ex->content_range = value;
  if (name == "etag") ex->etag = value;
  if (name == "last-modified") ex->last_modified = value;
  if (name == "content-length") ex->content_length = ParseInt64(value);
  return size * n;
}

Error TooLarge(const DirectOptions& o, std::int64_t bytes, bool announced) {
  return Error::Permanent(
      "media_too_large",
      fmt::format("media {} {} bytes, larger than MAX_MEDIA_BYTES={}",
                  announced ? "announced as" : "is at least", bytes, o.max_media_bytes));
}

// "bytes 100-199/200" -> 100.
std::optional<std::int64_t> RangeStart(std::string_view content_range) {
  if (!StartsWithNoCase(content_range, "bytes ")) return std::nullopt;
  content_range.remove_prefix(6);
  return ParseInt64(content_range.substr(0, content_range.find('-')));
}
// "bytes */200" or "bytes 0-1/200" -> 200.
std::optional<std::int64_t> RangeTotal(std::string_view content_range) {
  const auto slash = content_range.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return ParseInt64(content_range.substr(slash + 1));
}

// The first body bytes of a 2xx answer: decide whether and where they are stored.
bool StartBody(Exchange& ex) {
  ex.body_started = true;
  if (ex.status != 200 && ex.status != 206) return true;  // not stored, not an error here
  if (!ex.content_type.empty() && IsPageContentType(ex.content_type)) {
    ex.abort = Error::Permanent(kNotMedia, "the URL answered " + ex.content_type + ", not media");
    return false;
  }
  if (ex.status == 206) {
    const auto start = RangeStart(ex.content_range);
    if (!ex.ranged || !start || *start != ex.offset) {
      ex.abort = Error::Transient("bad_range", "the server answered another range (" +
                                                   ex.content_range + ") than asked for");
      return false;
    }
  } else if (ex.offset > 0) {
    // 200 to a range request: the whole file again, from the start.
    if (::ftruncate(ex.fd, 0) != 0) {
      ex.abort = Error::Transient("io_error", std::string("truncate: ") + ErrnoText());
      return false;
    }
    ex.offset = 0;
  }
  const auto max = ex.options->max_media_bytes;
  if (max > 0 && ex.content_length && ex.offset + *ex.content_length > max) {
    ex.abort = TooLarge(*ex.options, ex.offset + *ex.content_length, true);
    return false;
  }
  ex.storing = true;
  return true;
}

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* userp) {
  auto* ex = static_cast<Exchange*>(userp);
  const std::size_t len = size * n;
  if (!ex->body_started && !StartBody(*ex)) return 0;
  if (!ex->storing) {
    // An error or redirect page: read and dropped, at most 1 MiB of it.
    ex->received += static_cast<std::int64_t>(len);
    return ex->received > (std::int64_t{1} << 20) ? 0 : len;
  }
  const auto max = ex->options->max_media_bytes;
  if (max > 0 && ex->offset + ex->received + static_cast<std::int64_t>(len) > max) {
    ex->abort =
        TooLarge(*ex->options, ex->offset + ex->received + static_cast<std::int64_t>(len), false);
    return 0;
  }
  std::size_t done = 0;
  while (done < len) {
    const auto w =
        ::pwrite(ex->fd, data + done, len - done,
                 static_cast<off_t>(ex->offset + ex->received) + static_cast<off_t>(done));
    if (w < 0) {
      if (errno == EINTR) continue;
      ex->abort = Error::Transient(errno == ENOSPC ? "disk_full" : "io_error",
                                   std::string("write: ") + ErrnoText());
      return 0;
    }
    done += static_cast<std::size_t>(w);
  }
  ex->received += static_cast<std::int64_t>(len);
  return len;
}

Error StatusError(long status, const std::string& url) {
  const std::string message = fmt::format("HTTP {} from {}", status, RedactUrl(url));
  if (status == 429) return Error::Transient("rate_limited", message);
  if (status == 408) return Error::Transient("timeout", message);
  if (status >= 500) return Error::Transient("server_error", message);
  if (status == 404 || status == 410) return Error::Permanent("not_found", message);
  if (status == 403 || status == 401) return Error::Permanent("forbidden", message);
  if (status >= 400) return Error::Permanent("http_error", message);
  return Error::Permanent("no_media", message + " without media");
}

Error CurlError(CURLcode rc, const char* detail, const std::string& url) {
  const std::string message =
      fmt::format("{} ({}): {}", curl_easy_strerror(rc), detail, RedactUrl(url));
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return Error::Transient("timeout", message);
    case CURLE_FILESIZE_EXCEEDED:
      return Error::Permanent("media_too_large", message);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return Error::Permanent("unsupported_url", message);
    case CURLE_PEER_FAILED_VERIFICATION:
      return Error::Permanent("tls_error", message);
    default:
      return Error::Transient("network", message);
  }
}

// What one request ended with.
struct Outcome {
  enum Kind { kComplete, kRedirect, kFailed } kind = kFailed;
  std::string location;  // kRedirect
  Error error;           // kFailed
  bool progressed = false;
};

// The partial file's sidecar: the URL it came from and the validator for If-Range.
struct PartMeta {
  std::string url;
  std::string validator;
};
PartMeta ReadMeta(const fs::path& path) {
  PartMeta m;
  std::ifstream in(path);
  std::getline(in, m.url);
  std::getline(in, m.validator);
  return m;
}
void WriteMeta(const fs::path& path, const PartMeta& m) {
  std::ofstream out(path, std::ios::trunc);
  out << m.url << '\n' << m.validator << '\n';
}

Outcome Request(const std::string& url, const net::DestinationPolicy& policy,
                const DirectOptions& options, Exchange& ex, const std::string& if_range,
                Clock::time_point deadline) {
  Outcome out;
  auto destination = policy.Resolve(url);
  if (!destination.ok()) {
    out.error = std::move(destination).error();
    return out;
  }

  CurlPtr curl(curl_easy_init());
  if (!curl) {
    out.error = Error::Transient("curl_error", "curl_easy_init failed");
    return out;
  }
  CURL* c = curl.get();
  // Pinned to the addresses the policy resolved and allowed: curl does not ask DNS again.
  SlistPtr resolve;
  net::PinToDestination(c, policy, *destination, ex.connect, resolve);
  SlistPtr headers;
  if (ex.ranged && !if_range.empty()) {
    headers.reset(curl_slist_append(nullptr, ("If-Range: " + if_range).c_str()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  }
  const std::string range = std::to_string(ex.offset) + "-";
  if (ex.ranged) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());

  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "chansum-download/1");
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);
  StopWhenAsked(c, ex, options.should_stop, "download stopped");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max<std::int64_t>(1, options.connect_timeout.count())));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(
      c, CURLOPT_LOW_SPEED_TIME,
      static_cast<long>(std::max<std::int64_t>(
          1, std::chrono::duration_cast<std::chrono::seconds>(options.stall_timeout).count())));
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) {
    out.error = Error::Transient("timeout", "download took longer than YTDLP_TIMEOUT");
    return out;
  }
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(left));
  if (options.max_media_bytes > 0) {
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(options.max_media_bytes - ex.offset));
  }

  const CURLcode rc = curl_easy_perform(c);
  out.progressed = ex.storing && ex.received > 0;
  if (ex.connect.refused) {
    out.error = *ex.connect.refused;
    return out;
  }
  if (ex.abort) {
    out.error = *ex.abort;
    return out;
  }
  if (rc == CURLE_FILESIZE_EXCEEDED && options.max_media_bytes > 0) {
    out.error = TooLarge(options, ex.offset + ex.content_length.value_or(0), true);
    return out;
  }
  if (rc != CURLE_OK) {
    out.error = CurlError(rc, error_buffer, url);
    return out;
  }
  if (!ex.body_started && (ex.status == 200 || ex.status == 206)) {
    if (!StartBody(ex)) {  // an empty body: still checked (a page, a wrong range)
      out.error = *ex.abort;
      return out;
    }
  }
  if (ex.status >= 300 && ex.status < 400 && ex.status != 304) {
    char* location = nullptr;
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
    if (location == nullptr || *location == '\0') {
      out.error = Error::Permanent("http_error", fmt::format("HTTP {} without a Location from {}",
                                                             ex.status, RedactUrl(url)));
      return out;
    }
    out.kind = Outcome::kRedirect;
    out.location = location;
    return out;
  }
  if (ex.status == 416 && ex.ranged) {
    // The partial file is as long as the resource (complete) or longer (another file).
    if (RangeTotal(ex.content_range) == ex.offset) {
      out.kind = Outcome::kComplete;
      return out;
    }
    out.error = Error::Transient("bad_range", "the partial file does not fit the resource");
    return out;
  }
  if (ex.status != 200 && ex.status != 206) {
    out.error = StatusError(ex.status, url);
    return out;
  }
  out.kind = Outcome::kComplete;
  return out;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

DirectOptions DirectOptions::FromEnv(ConfigReader& env, const YtDlpOptions& ytdlp) {
  DirectOptions o;
  o.enabled = env.Bool("DIRECT_DOWNLOAD", o.enabled);
  o.max_redirects = static_cast<int>(env.Int("DIRECT_MAX_REDIRECTS", o.max_redirects, 0, 20));
  o.connect_timeout = ytdlp.socket_timeout;
  o.stall_timeout = ytdlp.socket_timeout;
  o.timeout = ytdlp.download_timeout;
  o.max_media_bytes = ytdlp.max_media_bytes;
  o.should_stop = ytdlp.should_stop;
  return o;
}

bool IsDirectMediaCandidate(std::string_view url, std::string_view video_key) {
  if (!StartsWithNoCase(url, "http://") && !StartsWithNoCase(url, "https://")) return false;
  const std::string ext = UrlPathExtension(url);
  if (IsMediaExtension(ext)) return true;
  if (video_key.rfind("feed:", 0) != 0) return false;
  return std::find(kPageExtensions.begin(), kPageExtensions.end(), ext) == kPageExtensions.end();
}

Result<DownloadResult> DirectDownload(const std::string& url, const std::string& video_id,
                                      const fs::path& media_dir,
                                      const net::DestinationPolicy& policy,
                                      const DirectOptions& options) {
  net::CurlGlobalInit();
  const auto deadline = Clock::now() + options.timeout;
  const fs::path dir = fs::absolute(media_dir) / SanitizeId(video_id);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Error::Transient("io_error", "cannot create " + dir.string() + ": " + ec.message());
  }
  const fs::path part = dir / ".direct.part";
  const fs::path meta_path = dir / ".direct.part.meta";
  Fd file;
  file.fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (file.fd < 0) {
    return Error::Transient("io_error", "cannot open " + part.string() + ": " + ErrnoText());
  }
  if (::flock(file.fd, LOCK_EX | LOCK_NB) != 0) {
    return Error::Transient("busy", "another download of this video is running");
  }
  auto discard = [&] {
    (void)::ftruncate(file.fd, 0);
    fs::remove(meta_path, ec);
  };

  PartMeta meta = ReadMeta(meta_path);
  const auto size_now = [&]() -> std::int64_t {
    struct stat st {};
    return ::fstat(file.fd, &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
  };
  if (meta.url != url) {  // a partial file of another URL (or none): start over
    discard();
    meta = PartMeta{url, ""};
  }

  std::string content_type;
  int resumes = 0;
  bool restarted = false;
  while (true) {
    std::string hop_url = url;
    Outcome outcome;
    Exchange ex;
    for (int hop = 0;; ++hop) {
      ex = Exchange{};
      ex.options = &options;
      ex.fd = file.fd;
      ex.offset = size_now();
      ex.ranged = ex.offset > 0;
      outcome = Request(hop_url, policy, options, ex, meta.validator, deadline);
      if (outcome.kind != Outcome::kRedirect) break;
      if (hop >= options.max_redirects) {
        outcome.kind = Outcome::kFailed;
        outcome.error = Error::Permanent(
            "too_many_redirects",
            fmt::format("more than {} redirects from {}", options.max_redirects, RedactUrl(url)));
        break;
      }
      hop_url = outcome.location;
    }
    if (ex.storing) {
      content_type = ex.content_type;
      // A validator lets the next attempt resume only the same version of the resource.
      if (!ex.etag.empty() && ex.etag.rfind("W/", 0) != 0) {
        meta.validator = ex.etag;
      } else if (!ex.last_modified.empty()) {
        meta.validator = ex.last_modified;
      } else if (ex.status == 200) {
        meta.validator.clear();
      }
      WriteMeta(meta_path, meta);
    }
    if (outcome.kind == Outcome::kComplete) break;
    const Error& error = outcome.error;
    if (error.code == "media_too_large" || error.code == kNotMedia) {
      discard();
      return error;
    }
    if (error.code == "bad_range" && !restarted) {
      discard();
      restarted = true;
      continue;
    }
    if (error.cls == ErrorClass::kTransient && error.code != "canceled" &&
        error.code != "rate_limited" && outcome.progressed && resumes < options.max_resumes &&
        Clock::now() < deadline) {
      ++resumes;
      continue;  // the connection broke with bytes received: ask for the rest
    }
    if (error.cls == ErrorClass::kPermanent) discard();
    return error;
  }

  const std::int64_t bytes = size_now();
  if (bytes == 0) {
    discard();
    return Error::Permanent("no_media", "the URL answered an empty body");
  }
  std::string ext = UrlPathExtension(url);
  if (!IsMediaExtension(ext)) ext = ExtensionForContentType(content_type);
  const fs::path final_path = dir / ("media." + ext);
  if (::fsync(file.fd) != 0) {
    return Error::Transient("io_error", std::string("fsync: ") + ErrnoText());
  }
  fs::rename(part, final_path, ec);
  if (ec) {
    return Error::Transient("io_error", "cannot move " + part.string() + " to " +
                                            final_path.string() + ": " + ec.message());
  }
  fs::remove(meta_path, ec);
  // Media files of earlier attempts with another extension are stale now.
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind("media.", 0) == 0 && entry.path() != final_path) {
      std::error_code ignored;
      fs::remove(entry.path(), ignored);
    }
  }
  return DownloadResult{final_path, static_cast<std::uint64_t>(bytes)};
}

}  // namespace chansum::media
