#include "chansum/openai/client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "chansum/net/curl_handles.hpp"

namespace chansum::openai {
namespace {

struct Response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string_view line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) {
      value.remove_prefix(1);
    }
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
      value.remove_suffix(1);
    }
    (*headers)[name] = std::string(value);
  }
  return size * n;
}

struct MimeDeleter {
  void operator()(curl_mime* m) const { curl_mime_free(m); }
};

// Sleeps `delay`, waking every 100 ms to check should_stop. False when asked to stop.
bool SleepUnlessStopped(std::chrono::milliseconds delay, const std::function<bool()>& should_stop) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (should_stop && should_stop()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(100), std::chrono::duration_cast<std::chrono::milliseconds>(
                                            until - std::chrono::steady_clock::now()) +
                                            std::chrono::milliseconds(1)));
  }
  return true;
}

std::chrono::milliseconds Backoff(const ClientOptions& o, int retry) {
  std::chrono::milliseconds delay = o.retry_base_delay * (1LL << std::min(retry, 16));
  delay = std::min<std::chrono::milliseconds>(delay, o.max_retry_wait);
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::milliseconds(
      static_cast<long long>(static_cast<double>(delay.count()) * jitter(rng)));
}

}  // namespace

struct Client::Body {
  const nlohmann::json* json = nullptr;
  const Multipart* form = nullptr;
};

Client::Client(ClientOptions options) : options_(std::move(options)) {
  net::CurlGlobalInit();
  while (!options_.base_url.empty() && options_.base_url.back() == '/')
    options_.base_url.pop_back();
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) {
    value.remove_prefix(1);
  }
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(),
                  [](unsigned char c) { return std::isdigit(c) || c == '.' || std::isspace(c); })) {
    try {
      const double seconds = std::stod(std::string(value));
      if (seconds < 0) return std::nullopt;
      return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  const time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const time_t now = std::time(nullptr);
  return std::chrono::milliseconds(std::max<long long>(0, (when - now) * 1000LL));
}

Error ErrorForStatus(long status, std::string_view body, std::string_view prefix) {
  std::string detail;
  try {
    const auto doc = nlohmann::json::parse(body);
    if (doc.is_object() && doc.contains("error")) {
      const auto& e = doc["error"];
      if (e.is_object()) {
        if (e.contains("message") && e["message"].is_string()) {
          detail = e["message"].get<std::string>();
        }
        for (const char* key : {"type", "code"}) {
          if (e.contains(key) && e[key].is_string()) {
            detail += std::string(detail.empty() ? "" : " ") + "(" + key + " " +
                      e[key].get<std::string>() + ")";
          }
        }
      } else if (e.is_string()) {
        detail = e.get<std::string>();  // Ollama / llama.cpp style {"error": "..."}
      }
    }
  } catch (const std::exception&) {
  }
  if (detail.empty()) detail = std::string(body.substr(0, 200));
  const std::string p(prefix);
  const std::string msg = "HTTP " + std::to_string(status) + (detail.empty() ? "" : ": " + detail);
  if (status == 429) return Error::Transient(p + "_rate_limited", "rate limited, " + msg);
  if (status >= 500) return Error::Transient(p + "_server_error", "server error, " + msg);
  if (status == 408 || status == 409) return Error::Transient(p + "_retryable", msg);
  if (status == 401 || status == 403) {
    return Error::Permanent(p + "_auth", "authentication failed (check the API key), " + msg);
  }
  if (status == 400 || status == 404 || status == 413 || status == 422) {
    return Error::Permanent(p + "_bad_request", "request refused, " + msg);
  }
  if (status >= 400) return Error::Permanent(p + "_refused", msg);
  return Error::Transient(p + "_unexpected_status", msg);
}

Result<nlohmann::json> Client::PostJson(std::string_view path, const nlohmann::json& body,
                                        const std::function<bool()>& should_stop,
                                        CallStats* stats) const {
  Body b;
  b.json = &body;
  return Post(path, b, should_stop, stats);
}

Result<nlohmann::json> Client::PostMultipart(std::string_view path, const Multipart& form,
                                             const std::function<bool()>& should_stop,
                                             CallStats* stats) const {
  Body b;
  b.form = &form;
  return Post(path, b, should_stop, stats);
}

Result<nlohmann::json> Client::Post(std::string_view path, const Body& body,
                                    const std::function<bool()>& should_stop,
                                    CallStats* stats) const {
  const std::string url = options_.base_url + std::string(path);
  const std::string p = options_.error_prefix;
  const std::string json_text = body.json != nullptr ? body.json->dump() : std::string();
  CallStats local;
  CallStats& st = stats != nullptr ? *stats : local;
  Error last = Error::Transient(p + "_unavailable", "no attempt made");
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    if (should_stop && should_stop()) return Error::Transient("cancelled", "shutting down");
    ++st.attempts;
    net::CurlPtr curl(curl_easy_init());
    if (!curl) return Error::Transient(p + "_curl", "curl_easy_init failed");
    Response res;
    char errbuf[CURL_ERROR_SIZE] = {0};
    net::SlistPtr headers;
    auto add_header = [&](const std::string& h) {
      headers.reset(curl_slist_append(headers.release(), h.c_str()));
    };
    add_header("Accept: application/json");
    if (!options_.api_key.empty()) add_header("Authorization: Bearer " + options_.api_key);
    std::unique_ptr<curl_mime, MimeDeleter> mime;
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &res.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &res.headers);
    if (body.json != nullptr) {
      add_header("Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_text.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(json_text.size()));
    } else {
      mime.reset(curl_mime_init(c));
      for (const auto& [name, value] : body.form->fields) {
        curl_mimepart* part = curl_mime_addpart(mime.get());
        curl_mime_name(part, name.c_str());
        curl_mime_data(part, value.data(), value.size());
      }
      for (const auto& f : body.form->files) {
        curl_mimepart* part = curl_mime_addpart(mime.get());
        curl_mime_name(part, f.name.c_str());
        curl_mime_filename(part, f.filename.c_str());
        curl_mime_type(part, f.content_type.c_str());
        curl_mime_data(part, f.data.data(), f.data.size());
      }
      curl_easy_setopt(c, CURLOPT_MIMEPOST, mime.get());
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    const CURLcode rc = curl_easy_perform(c);
    std::optional<std::chrono::milliseconds> wait;
    if (rc != CURLE_OK) {
      ++st.server_errors;
      last = Error::Transient(p + "_unreachable",
                              url + ": " + (errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc)));
    } else {
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
      if (res.status >= 200 && res.status < 300) {
        try {
          return nlohmann::json::parse(res.body);
        } catch (const std::exception& e) {
          return Error::Transient(p + "_bad_response",
                                  url + " answered " + std::to_string(res.status) +
                                      " with a body that is not JSON: " + e.what());
        }
      }
      last = ErrorForStatus(res.status, res.body, p);
      last = Wrapped(std::move(last), url);
      if (!last.transient()) return last;
      if (res.status == 429) {
        ++st.rate_limited;
        if (auto it = res.headers.find("retry-after"); it != res.headers.end()) {
          wait = ParseRetryAfter(it->second);
        }
        if (wait && *wait > options_.max_retry_wait) {
          last.message += " (Retry-After " + std::to_string(wait->count() / 1000) +
                          " s is beyond the " +
                          std::to_string(options_.max_retry_wait.count() / 1000) + " s we wait)";
          // The stage's retry of the work waits for it instead of its own shorter backoff.
          return WithRetryAfter(std::move(last), *wait);
        }
      } else {
        ++st.server_errors;
      }
    }
    if (attempt == options_.max_retries) {
      // The server's last Retry-After, not waited for here: the stage's retry waits for it.
      if (wait) last = WithRetryAfter(std::move(last), *wait);
      break;
    }
    const auto delay = wait ? *wait : Backoff(options_, attempt);
    spdlog::warn("{} (try {} of {}), retrying in {} ms", last.message, attempt + 1,
                 options_.max_retries + 1, delay.count());
    if (!SleepUnlessStopped(delay, should_stop)) {
      return Error::Transient("cancelled", "shutting down");
    }
  }
  last.message += " (gave up after " + std::to_string(options_.max_retries + 1) + " tries)";
  return last;
}

}  // namespace chansum::openai
