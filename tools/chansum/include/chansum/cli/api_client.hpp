#pragma once
// A small HTTP client of the orchestrator's API over libcurl: JSON requests and the
// Server-Sent Events stream of GET /jobs/{id}/events.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"

namespace chansum::cli {

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string etag;  // the ETag header, when the server sent one
  std::string body;
};

class ApiClient {
 public:
  // `base_url` like "http://127.0.0.1:8080"; `token` sent as "Authorization: Bearer" when set.
  ApiClient(std::string base_url, std::string token);

  // Transport failures (connection refused, timeout) are transient errors; any HTTP status is a
  // response.
  [[nodiscard]] Result<HttpResponse> Get(const std::string& path) const;
  // GET with extra request headers ("If-None-Match: \"...\"").
  [[nodiscard]] Result<HttpResponse> Get(const std::string& path,
                                         const std::vector<std::string>& headers) const;
  [[nodiscard]] Result<HttpResponse> Post(const std::string& path, const std::string& json) const;
  [[nodiscard]] Result<HttpResponse> Delete(const std::string& path) const;

  // Opens the event stream at `path` and hands every received chunk to `on_data` until the server
  // ends the stream, `on_data` returns false, or the connection drops (an error). A non-200
  // status is returned as the response (its body read in full). The stream is considered dead when
  // nothing (not even a heartbeat) arrives for `idle_timeout_s`.
  [[nodiscard]] Result<HttpResponse> Stream(const std::string& path,
                                            const std::string& last_event_id,
                                            const std::function<bool(const std::string&)>& on_data,
                                            long idle_timeout_s = 45) const;

  [[nodiscard]] const std::string& base_url() const { return base_url_; }

 private:
  Result<HttpResponse> Perform(const std::string& method, const std::string& path,
                               const std::string* body,
                               const std::vector<std::string>& extra_headers = {}) const;

  std::string base_url_;
  std::string token_;
};

// GET /jobs/{id} with every video: follows videos_next_cursor page by page and revalidates each
// page it fetched before with If-None-Match, so polling an unchanged job costs the server no
// database read (a 304 reuses the page kept here).
class JobFetcher {
 public:
  JobFetcher(const ApiClient& client, std::string job_id);
  // The whole view ("videos" of every page, "videos_next_cursor" null). A non-200/304 answer is
  // returned in `failed` (and the result is an error); `changed` tells whether any page changed
  // since the previous call.
  [[nodiscard]] Result<nlohmann::json> Fetch(HttpResponse* failed, bool* changed = nullptr);

 private:
  struct Page {
    std::string etag;
    nlohmann::json body;
  };
  const ApiClient& client_;
  std::string job_id_;
  std::map<std::string, Page> pages_;  // by path
};

// The message of an API error body {"error": {"code", "message"}}, else a short description.
[[nodiscard]] std::string ApiErrorMessage(const HttpResponse& response);

}  // namespace chansum::cli
