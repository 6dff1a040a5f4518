#include "chansum/media/channel.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "chansum/common/strings.hpp"

namespace chansum::media {
namespace {

constexpr std::size_t kChannelIdLength = 24;  // "UC" + 22
constexpr std::size_t kMinHandle = 3;
constexpr std::size_t kMaxHandle = 30;

bool IsIdChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}
bool IsHandleChar(char c) { return IsIdChar(c) || c == '.'; }

Error Invalid(std::string code, std::string message) {
  return Error::Permanent(std::move(code), std::move(message));
}

// Shared checks of any text that may end up on yt-dlp's command line.
Status CheckCharacters(std::string_view text, std::string_view what, const char* code) {
  if (text.empty()) return Invalid(code, std::string(what) + " is empty");
  if (text.size() > kMaxChannelInputLength) {
    return Invalid(code, std::string(what) + " is longer than " +
                             std::to_string(kMaxChannelInputLength) + " characters");
  }
  if (text.front() == '-') {
    return Invalid(code, std::string(what) + " must not start with '-'");
  }
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      return Invalid(code, std::string(what) + " contains a control character");
    }
    if (c == ' ') return Invalid(code, std::string(what) + " contains whitespace");
  }
  return OkStatus();
}

struct UrlParts {
  std::string scheme;  // lower case
  std::string host;    // lower case
  std::string port;
  std::string path;  // from the first '/' up to '?' or '#'
  std::string rest;  // query and fragment, with their '?'/'#'
};

Result<UrlParts> ParseHttpUrl(std::string_view url, const char* code) {
  UrlParts parts;
  if (StartsWithNoCase(url, "https://")) {
    parts.scheme = "https";
  } else if (StartsWithNoCase(url, "http://")) {
    parts.scheme = "http";
  } else {
    const auto colon = url.find(':');
    const auto slash = url.find('/');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon < slash)) {
      return Invalid(code, "only http:// and https:// URLs are accepted, not '" +
                               AsciiLower(url.substr(0, colon)) + ":'");
    }
    return Invalid(code, "not a URL (it must start with http:// or https://)");
  }
  std::string_view rest = url.substr(parts.scheme.size() + 3);
  const auto auth_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, auth_end);
  const std::string_view after =
      auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  if (authority.empty()) return Invalid(code, "URL has no host");
  if (authority.find('@') != std::string_view::npos) {
    return Invalid(code, "URLs with user credentials are not accepted");
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return Invalid(code, "URL has an invalid host");
    host = authority.substr(0, close + 1);
    const auto inner = authority.substr(1, close - 1);
    if (inner.empty() || !std::all_of(inner.begin(), inner.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
        })) {
      return Invalid(code, "URL has an invalid host");
    }
    const auto tail = authority.substr(close + 1);
    if (!tail.empty()) {
      if (tail.front() != ':') return Invalid(code, "URL has an invalid host");
      port = tail.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (host.empty()) return Invalid(code, "URL has no host");
    const bool chars_ok = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
    });
    if (!chars_ok || host.front() == '.' || host.front() == '-') {
      return Invalid(code, "URL has an invalid host");
    }
  }
  if (!port.empty() || authority.back() == ':') {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }) ||
        std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535) {
      return Invalid(code, "URL has an invalid port");
    }
  }
  parts.host = AsciiLower(host);
  parts.port = std::string(port);
  const auto path_end = after.find_first_of("?#");
  parts.path = std::string(after.substr(0, path_end));
  if (path_end != std::string_view::npos) parts.rest = std::string(after.substr(path_end));
  return parts;
}

bool IsYouTubeHost(const std::string& host) {
  return host == "youtube.com" || host == "www.youtube.com" || host == "m.youtube.com";
}

// "/@h", "/channel/UC...", "/c/name", "/user/name" (with an optional trailing '/'): a channel's
// home page, whose flat playlist lists tabs rather than videos.
bool IsBareChannelPath(std::string_view path) {
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.size() < 2 || path.front() != '/') return false;
  path.remove_prefix(1);
  const auto slash = path.find('/');
  if (path.front() == '@') return slash == std::string_view::npos && path.size() > 1;
  if (slash == std::string_view::npos) return false;
  const auto section = path.substr(0, slash);
  const auto name = path.substr(slash + 1);
  if (name.empty() || name.find('/') != std::string_view::npos) return false;
  return section == "channel" || section == "c" || section == "user";
}

}  // namespace

const char* ToString(ChannelKind kind) noexcept {
  switch (kind) {
    case ChannelKind::kHandle:
      return "handle";
    case ChannelKind::kChannelId:
      return "channel_id";
    case ChannelKind::kUrl:
      return "url";
  }
  return "unknown";
}

Status ValidateHttpUrl(std::string_view url) {
  if (auto chars = CheckCharacters(url, "URL", "invalid_url"); !chars.ok()) return chars.error();
  auto parts = ParseHttpUrl(url, "invalid_url");
  if (!parts.ok()) return parts.error();
  return OkStatus();
}

Result<ChannelRef> NormalizeChannel(std::string_view raw) {
  constexpr const char* kCode = "invalid_channel";
  if (raw.size() > kMaxChannelInputLength) {
    return Invalid(
        kCode, "channel is longer than " + std::to_string(kMaxChannelInputLength) + " characters");
  }
  const std::string_view input = TrimWhitespace(raw);
  if (input.empty()) return Invalid(kCode, "channel is empty");
  if (auto chars = CheckCharacters(input, "channel", kCode); !chars.ok()) return chars.error();

  ChannelRef ref;
  ref.input = std::string(input);

  if (input.front() == '@') {
    const auto handle = input.substr(1);
    if (handle.size() < kMinHandle || handle.size() > kMaxHandle ||
        !std::all_of(handle.begin(), handle.end(), IsHandleChar)) {
      return Invalid(kCode, "a handle is '@' followed by 3 to 30 letters, digits, '.', '_' or '-'");
    }
    ref.kind = ChannelKind::kHandle;
    ref.url = "https://www.youtube.com/@" + std::string(handle) + "/videos";
    return ref;
  }

  if (input.find(':') == std::string_view::npos && input.find('/') == std::string_view::npos &&
      input.find('.') == std::string_view::npos && input.size() > 2 && input.substr(0, 2) == "UC") {
    if (input.size() != kChannelIdLength || !std::all_of(input.begin(), input.end(), IsIdChar)) {
      return Invalid(kCode,
                     "a channel id is 'UC' followed by 22 letters, digits, '_' or '-' (24 in all)");
    }
    ref.kind = ChannelKind::kChannelId;
    ref.url = "https://www.youtube.com/channel/" + std::string(input) + "/videos";
    return ref;
  }

  auto parts = ParseHttpUrl(input, kCode);
  if (!parts.ok()) {
    if (input.find("://") == std::string_view::npos && input.find(':') == std::string_view::npos) {
      return Invalid(kCode,
                     "expected an @handle, a channel id (UC...) or an http(s) URL of a channel, "
                     "playlist or feed");
    }
    return std::move(parts).error();
  }
  ref.kind = ChannelKind::kUrl;
  // The scheme in lower case ("HTTP://x" -> "http://x"): it is case-insensitive (RFC 3986), and
  // everything downstream may then compare it literally. Found by tests/fuzz/channel_fuzz.
  ref.url = parts->scheme + std::string(input.substr(parts->scheme.size()));
  if (IsYouTubeHost(parts->host) && parts->rest.empty() && IsBareChannelPath(parts->path)) {
    std::string path = parts->path;
    if (path.back() == '/') path.pop_back();
    // Keep scheme and authority as typed; the path starts at the first '/' after "://".
    const auto path_start = input.find('/', parts->scheme.size() + 3);
    ref.url = ref.url.substr(0, path_start) + path + "/videos";
  }
  return ref;
}

}  // namespace chansum::media
