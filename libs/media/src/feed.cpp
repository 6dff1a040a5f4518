// A channel's Atom feed: fetch (libcurl, destination policy) and parse (libxml2). See feed.hpp.
#include "chansum/media/feed.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include "chansum/common/logging.hpp"
#include "chansum/common/strings.hpp"
#include "chansum/net/curl_handles.hpp"
#include "chansum/net/curl_pinned.hpp"
#include "curl_exchange.hpp"
#include "strings.hpp"

namespace chansum::media {
namespace {

constexpr const char* kAtomNs = "http://www.w3.org/2005/Atom";
constexpr const char* kYtNs = "http://www.youtube.com/xml/schemas/2015";

Error Invalid(const std::string& why) { return Error::Permanent("feed_invalid", why); }

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct XmlCharFree {
  void operator()(xmlChar* s) const { xmlFree(s); }
};

bool Is(const xmlNode* n, const char* ns, const char* name) {
  return n->type == XML_ELEMENT_NODE && n->ns != nullptr &&
         std::strcmp(reinterpret_cast<const char*>(n->ns->href), ns) == 0 &&
         std::strcmp(reinterpret_cast<const char*>(n->name), name) == 0;
}

// The text of an element (entities decoded), trimmed.
std::string Text(const xmlNode* n) {
  std::unique_ptr<xmlChar, XmlCharFree> content(xmlNodeGetContent(n));
  if (!content) return "";
  return std::string(TrimWhitespace(reinterpret_cast<const char*>(content.get())));
}

const xmlNode* Child(const xmlNode* parent, const char* ns, const char* name) {
  for (const xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (Is(c, ns, name)) return c;
  }
  return nullptr;
}

// What one request saw.
struct Exchange : CurlExchange {
  const FeedFetchOptions* options = nullptr;
  std::string body;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* userp) {
  auto* ex = static_cast<Exchange*>(userp);
  const std::size_t len = size * n;
  if (static_cast<std::int64_t>(ex->body.size() + len) > ex->options->max_bytes) {
    ex->abort = Error::Permanent(
        "feed_too_large", fmt::format("the feed is larger than {} bytes", ex->options->max_bytes));
    return 0;
  }
  ex->body.append(data, len);
  return len;
}

}  // namespace

Result<std::vector<FeedEntry>> ParseYouTubeFeed(std::string_view xml) {
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  if (xml.size() > static_cast<std::size_t>(INT32_MAX)) return Invalid("the feed is too large");
  // XML_PARSE_NONET: nothing is loaded from the network; no XML_PARSE_DTDLOAD / NOENT: no external
  // DTD or entity is read, internal entities stay references whose text xmlNodeGetContent gives.
  std::unique_ptr<xmlDoc, DocFree> doc(
      xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "feed.xml", nullptr,
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) {
    const xmlError* e = xmlGetLastError();
    std::string why = e != nullptr && e->message != nullptr ? e->message : "unknown error";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Invalid("not well-formed XML: " + why);
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (root == nullptr || !Is(root, kAtomNs, "feed")) {
    return Invalid("not an Atom feed (the root element is not an Atom <feed>)");
  }
  std::vector<FeedEntry> out;
  for (const xmlNode* n = root->children; n != nullptr; n = n->next) {
    if (!Is(n, kAtomNs, "entry")) continue;
    FeedEntry e;
    if (const auto* id = Child(n, kYtNs, "videoId")) e.video_id = Text(id);
    if (e.video_id.empty()) return Invalid("an <entry> has no <yt:videoId>");
    if (const auto* p = Child(n, kAtomNs, "published")) e.published = Text(p);
    if (const auto* t = Child(n, kAtomNs, "title")) e.title = Text(t);
    out.push_back(std::move(e));
  }
  return out;
}

bool IsChannelId(std::string_view id) {
  if (id.size() != 24 || id.substr(0, 2) != "UC") return false;
  return std::all_of(id.begin() + 2, id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string UrlHost(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  const std::string lower_scheme = AsciiLower(url.substr(0, scheme));
  if (lower_scheme != "http" && lower_scheme != "https") return "";
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    return close == std::string_view::npos ? "" : AsciiLower(rest.substr(0, close + 1));
  }
  return AsciiLower(rest.substr(0, rest.find(':')));
}

std::optional<std::string> ChannelIdFromUrl(std::string_view url, std::string_view feed_host) {
  const std::string host = UrlHost(url);
  if (host.empty()) return std::nullopt;
  const bool youtube =
      host == "youtube.com" || host == "www.youtube.com" || host == "m.youtube.com";
  if (!youtube && (feed_host.empty() || host != AsciiLower(feed_host))) return std::nullopt;
  std::string_view rest = url.substr(url.find("://") + 3);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view path = rest.substr(slash);
  path = path.substr(0, path.find_first_of("?#"));
  constexpr std::string_view kPrefix = "/channel/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view id = path.substr(kPrefix.size());
  id = id.substr(0, id.find('/'));
  if (!IsChannelId(id)) return std::nullopt;
  return std::string(id);
}

std::string FeedUrlFor(std::string_view url_template, std::string_view channel_id) {
  std::string out(url_template);
  constexpr std::string_view kToken = "{channel_id}";
  for (auto p = out.find(kToken); p != std::string::npos; p = out.find(kToken, p)) {
    out.replace(p, kToken.size(), channel_id);
    p += channel_id.size();
  }
  return out;
}

Result<std::string> FetchFeed(const std::string& url, const net::DestinationPolicy& policy,
                              const FeedFetchOptions& options) {
  net::CurlGlobalInit();
  auto destination = policy.Resolve(url);
  if (!destination.ok()) return std::move(destination).error();
  Exchange ex;
  ex.options = &options;
  net::CurlPtr curl(curl_easy_init());
  if (!curl) return Error::Transient("curl_error", "curl_easy_init failed");
  CURL* c = curl.get();
  // Pinned to the addresses the policy resolved and allowed: curl does not ask DNS again.
  net::SlistPtr resolve;
  net::PinToDestination(c, policy, *destination, ex.connect, resolve);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip when the server offers it
  curl_easy_setopt(c, CURLOPT_USERAGENT, "chansum-discovery/1");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);
  StopWhenAsked(c, ex, options.should_stop, "feed fetch stopped");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<std::int64_t>(1, options.timeout.count())));
  const CURLcode rc = curl_easy_perform(c);
  if (ex.connect.refused) return *ex.connect.refused;
  if (ex.abort) return *ex.abort;
  if (rc != CURLE_OK) {
    const std::string message =
        fmt::format("{} ({}): {}", curl_easy_strerror(rc), error_buffer, RedactUrl(url));
    if (rc == CURLE_OPERATION_TIMEDOUT) return Error::Transient("timeout", message);
    if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
      return Error::Permanent("unsupported_url", message);
    }
    return Error::Transient("network", message);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  const std::string message = fmt::format("HTTP {} from {}", status, RedactUrl(url));
  if (status == 200) return std::move(ex.body);
  if (status == 404 || status == 410) return Error::Permanent("feed_not_found", message);
  if (status == 429) return Error::Transient("rate_limited", message);
  if (status >= 500) return Error::Transient("server_error", message);
  return Error::Permanent("feed_http_error", message);
}

}  // namespace chansum::media
