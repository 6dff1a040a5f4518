#include "chansum/cli/api_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/net/curl_handles.hpp"

namespace chansum::cli {
namespace {

using net::CurlPtr;
using net::SlistPtr;

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

struct StreamState {
  CURL* curl = nullptr;
  const std::function<bool(const std::string&)>* on_data = nullptr;
  std::string error_body;  // body of a non-200 answer
  bool stopped = false;    // on_data asked to stop
};

size_t StreamBody(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<StreamState*>(user);
  long status = 0;
  curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    st->error_body.append(data, size * n);
    return size * n;
  }
  if (!(*st->on_data)(std::string(data, size * n))) {
    st->stopped = true;
    return 0;  // aborts the transfer
  }
  return size * n;
}

SlistPtr Headers(const std::string& token, const std::vector<std::string>& extra) {
  curl_slist* list = nullptr;
  if (!token.empty()) list = curl_slist_append(list, ("Authorization: Bearer " + token).c_str());
  for (const auto& h : extra) list = curl_slist_append(list, h.c_str());
  return SlistPtr(list);
}

Error TransportError(CURLcode rc, const std::string& url) {
  return Error::Transient("api_unreachable",
                          "cannot reach the API at " + url + ": " + curl_easy_strerror(rc));
}

// Keeps the ETag response header.
size_t KeepEtag(char* data, size_t size, size_t n, void* user) {
  const std::string line(data, size * n);
  static const std::string etag_prefix = "etag:";
  if (line.size() > etag_prefix.size() &&
      std::equal(etag_prefix.begin(), etag_prefix.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    std::string value = line.substr(etag_prefix.size());
    const auto first = value.find_first_not_of(" \t");
    const auto last = value.find_last_not_of(" \t\r\n");
    *static_cast<std::string*>(user) =
        first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
  }
  return size * n;
}

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string QueryValue(const std::string& s) {
  static const char hex_digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex_digits[c >> 4];
      out += hex_digits[c & 0xf];
    }
  }
  return out;
}

std::string ContentType(CURL* curl) {
  char* ct = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
  return ct != nullptr ? std::string(ct) : std::string();
}

}  // namespace

ApiClient::ApiClient(std::string base_url, std::string token)
    : base_url_(std::move(base_url)), token_(std::move(token)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  net::CurlGlobalInit();
}

Result<HttpResponse> ApiClient::Get(const std::string& path) const {
  return Perform("GET", path, nullptr);
}

Result<HttpResponse> ApiClient::Get(const std::string& path,
                                    const std::vector<std::string>& headers) const {
  return Perform("GET", path, nullptr, headers);
}

Result<HttpResponse> ApiClient::Post(const std::string& path, const std::string& json) const {
  return Perform("POST", path, &json);
}

Result<HttpResponse> ApiClient::Delete(const std::string& path) const {
  return Perform("DELETE", path, nullptr);
}

Result<HttpResponse> ApiClient::Perform(const std::string& method, const std::string& path,
                                        const std::string* body,
                                        const std::vector<std::string>& extra_headers) const {
  CurlPtr curl(curl_easy_init());
  if (!curl) return Error::Permanent("curl", "curl_easy_init failed");
  const std::string url = base_url_ + path;
  HttpResponse response;
  std::vector<std::string> extra = {"Accept: application/json"};
  if (body != nullptr) extra.emplace_back("Content-Type: application/json");
  extra.insert(extra.end(), extra_headers.begin(), extra_headers.end());
  auto headers = Headers(token_, extra);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, KeepEtag);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &response.etag);
  if (method == "POST") {
    curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
  } else if (method == "DELETE") {
    curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, "DELETE");
  }
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) return TransportError(rc, base_url_);
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
  response.content_type = ContentType(curl.get());
  return response;
}

Result<HttpResponse> ApiClient::Stream(const std::string& path, const std::string& last_event_id,
                                       const std::function<bool(const std::string&)>& on_data,
                                       long idle_timeout_s) const {
  CurlPtr curl(curl_easy_init());
  if (!curl) return Error::Permanent("curl", "curl_easy_init failed");
  const std::string url = base_url_ + path;
  std::vector<std::string> extra = {"Accept: text/event-stream"};
  if (!last_event_id.empty()) extra.push_back("Last-Event-ID: " + last_event_id);
  auto headers = Headers(token_, extra);
  StreamState state;
  state.curl = curl.get();
  state.on_data = &on_data;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 10L);
  // Dead connection: less than one byte a second for idle_timeout_s (heartbeats keep it alive).
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, idle_timeout_s);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, StreamBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &state);
  const CURLcode rc = curl_easy_perform(curl.get());
  HttpResponse response;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
  response.content_type = ContentType(curl.get());
  response.body = std::move(state.error_body);
  if (state.stopped) return response;
  if (rc != CURLE_OK) return TransportError(rc, base_url_);
  return response;
}

JobFetcher::JobFetcher(const ApiClient& client, std::string job_id)
    : client_(client), job_id_(std::move(job_id)) {}

Result<nlohmann::json> JobFetcher::Fetch(HttpResponse* failed, bool* changed) {
  const std::string base = "/jobs/" + job_id_;
  std::string path = base;
  nlohmann::json view;
  nlohmann::json videos = nlohmann::json::array();
  bool any_changed = false;
  for (int page = 0; page < 100000; ++page) {
    auto it = pages_.find(path);
    std::vector<std::string> headers;
    if (it != pages_.end() && !it->second.etag.empty()) {
      headers.push_back("If-None-Match: " + it->second.etag);
    }
    auto r = client_.Get(path, headers);
    if (!r.ok()) return r.error();
    const nlohmann::json* body = nullptr;
    if (r->status == 304 && it != pages_.end() && !it->second.etag.empty()) {
      body = &it->second.body;
    } else if (r->status == 200) {
      auto parsed = nlohmann::json::parse(r->body, nullptr, false);
      if (!parsed.is_object()) {
        return Error::Transient("invalid_json", "the API answered " + path + " with invalid JSON");
      }
      any_changed = true;
      body = &(pages_[path] = Page{r->etag, std::move(parsed)}).body;
    } else {
      if (failed != nullptr) *failed = std::move(*r);
      return Error::Permanent("http_status", "HTTP " + std::to_string(r->status));
    }
    if (view.is_null()) view = *body;
    if (body->contains("videos") && (*body)["videos"].is_array()) {
      for (const auto& v : (*body)["videos"]) videos.push_back(v);
    }
    const auto next = body->value("videos_next_cursor", nlohmann::json());
    if (!next.is_string()) break;
    path = base + "?cursor=" + QueryValue(next.get<std::string>());
  }
  view["videos"] = std::move(videos);
  view["videos_next_cursor"] = nullptr;
  if (changed != nullptr) *changed = any_changed;
  return view;
}

std::string ApiErrorMessage(const HttpResponse& response) {
  auto j = nlohmann::json::parse(response.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    const std::string code = e.value("code", "");
    const std::string message = e.value("message", "");
    if (!message.empty()) return code.empty() ? message : code + ": " + message;
  }
  return "HTTP " + std::to_string(response.status);
}

}  // namespace chansum::cli
