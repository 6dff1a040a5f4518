#include "chansum/http/json_api.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>

#include "chansum/common/strings.hpp"
#include "chansum/metrics/metrics.hpp"

namespace chansum::http {
namespace {

using nlohmann::json;

const char* DefaultCode(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 413:
      return "payload_too_large";
    case 411:
      return "length_required";
    case 415:
      return "unsupported_media_type";
    case 416:
      return "range_not_satisfiable";
    default:
      return status >= 500 ? "internal" : "error";
  }
}

std::string DefaultMessage(int status, const httplib::Request& req, std::size_t max_body) {
  switch (status) {
    case 400:
      return "the request could not be parsed";
    case 404:
      return "no such resource: " + req.method + " " + req.path;
    case 405:
      return "method not allowed";
    case 413:
      return "request body is larger than " + std::to_string(max_body / 1024) + " KiB";
    default:
      return status >= 500 ? "internal error" : "request failed";
  }
}

// Per-request state for the HTTP metrics. cpp-httplib runs routing, the handler, the error
// handler and the logger of one request on one thread, so thread-locals carry it from the
// pre-routing handler to the logger.
thread_local std::optional<std::chrono::steady_clock::time_point> t_request_started;
thread_local bool t_unmatched = false;
// Whether the request on this thread carried the server's token (or the server has none).
thread_local bool t_authorized = false;

// cpp-httplib's own ThreadPool has a fixed number of threads (8 here) and hands each accepted
// connection to one of them for as long as the connection lasts: eight clients that send half a
// request line keep every other client waiting for the read timeout. This queue starts a thread
// per connection instead, up to `max` at once; beyond that, connections wait for the first
// thread to finish its own. Accepting never blocks.
class ConnectionQueue final : public httplib::TaskQueue {
 public:
  explicit ConnectionQueue(std::size_t max) : max_(std::max<std::size_t>(max, 1)) {}
  ~ConnectionQueue() override { ConnectionQueue::shutdown(); }
  ConnectionQueue(const ConnectionQueue&) = delete;
  ConnectionQueue& operator=(const ConnectionQueue&) = delete;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    ReapLocked(lock);
    // Threads that finished while the lock was released for joining are not busy any more.
    if (threads_.size() - finished_.size() >= max_) {
      pending_.push_back(std::move(fn));
      return;
    }
    const std::size_t id = next_id_;
    try {
      threads_.emplace(id, std::thread([this, id, first = fn]() mutable { Run(id, first); }));
      ++next_id_;
    } catch (const std::system_error& e) {
      // Out of threads: the connection waits for a running one (or is closed at shutdown).
      spdlog::warn("cannot start a connection thread ({}); the connection waits", e.what());
      pending_.push_back(std::move(fn));
    }
  }

  void shutdown() override {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return threads_.size() == finished_.size(); });
    ReapLocked(lock);
  }

 private:
  void Run(std::size_t id, std::function<void()>& fn) {
    while (fn) {
      fn();
      std::lock_guard lock(mu_);
      if (pending_.empty()) {
        fn = nullptr;
        finished_.push_back(id);
        idle_.notify_all();
      } else {
        fn = std::move(pending_.front());
        pending_.pop_front();
      }
    }
  }

  // Joins the threads that are done (or about to return): called with `lock` held.
  void ReapLocked(std::unique_lock<std::mutex>& lock) {
    std::vector<std::thread> done;
    for (std::size_t id : finished_) {
      auto it = threads_.find(id);
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    finished_.clear();
    lock.unlock();
    for (auto& t : done) t.join();
    lock.lock();
  }

  const std::size_t max_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::size_t next_id_ = 0;                     // guarded by mu_
  std::map<std::size_t, std::thread> threads_;  // guarded by mu_
  std::vector<std::size_t> finished_;           // guarded by mu_
  std::deque<std::function<void()>> pending_;   // guarded by mu_
};

struct HttpMetrics {
  metrics::Family<metrics::Counter>& requests = metrics::Registry::Default().AddCounter(
      "chansum_http_requests_total", "HTTP requests served, by method, route and status.",
      {"method", "route", "status"});
  metrics::Family<metrics::Histogram>& latency = metrics::Registry::Default().AddHistogram(
      "chansum_http_request_duration_seconds",
      "Time from routing to the response being written, by method and route.", {"method", "route"},
      metrics::LatencyBuckets());
};

HttpMetrics& Http() {
  static HttpMetrics m;
  return m;
}

void RecordRequest(const httplib::Request& req, const httplib::Response& res) {
  const std::string route = t_unmatched ? "unmatched" : RouteLabel(req.path);
  Http().requests.Labels({req.method, route, std::to_string(res.status)}).Inc();
  if (t_request_started) {
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - *t_request_started;
    Http().latency.Labels({req.method, route}).Observe(took.count());
  }
  t_request_started.reset();
  t_unmatched = false;
  t_authorized = false;
}

}  // namespace

std::string RouteLabel(const std::string& path) {
  if (path.empty() || path == "/") return "/";
  std::string out;
  std::size_t index = 0;
  std::size_t pos = 1;  // after the leading '/'
  while (pos <= path.size()) {
    std::size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    const std::string segment = path.substr(pos, next - pos);
    out += '/';
    out += (index % 2 == 1 && !segment.empty()) ? std::string("{id}") : segment;
    ++index;
    pos = next + 1;
  }
  return out;
}

std::string ErrorBody(const std::string& code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

void SendError(httplib::Response& res, int status, const std::string& code,
               const std::string& message) {
  res.status = status;
  res.set_content(ErrorBody(code, message), "application/json");
}

void SendFailure(httplib::Response& res, const Error& error) {
  if (error.transient()) {
    res.set_header("Retry-After", "2");
    SendError(res, 503, "unavailable", "a dependency is unavailable, try again shortly");
  } else {
    SendError(res, 500, "internal", "internal error");
  }
  spdlog::error("request failed: {}", error.ToString());
}

namespace {

// "application/json", "application/problem+json", with or without parameters.
bool IsJson(const std::string& content_type) {
  const auto type = AsciiLower(content_type.substr(0, content_type.find(';')));
  const auto end = type.find_last_not_of(" \t");
  const auto t = type.substr(0, end == std::string::npos ? 0 : end + 1);
  return t == "application/json" ||
         (t.rfind("application/", 0) == 0 && t.size() > 5 && t.substr(t.size() - 5) == "+json");
}

bool Safe(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

}  // namespace

bool GuardRequest(const httplib::Request& req, httplib::Response& res,
                  const std::vector<std::string>& allowed_origins) {
  if (req.has_header("Transfer-Encoding")) {
    SendError(res, 411, "length_required",
              "send the request body with a Content-Length; chunked bodies are not accepted");
    return true;
  }
  if (req.has_header("Content-Encoding") &&
      AsciiLower(req.get_header_value("Content-Encoding")) != "identity") {
    SendError(res, 415, "unsupported_media_type", "compressed request bodies are not accepted");
    return true;
  }
  const bool has_body =
      req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0";
  if (has_body && !IsJson(req.get_header_value("Content-Type"))) {
    SendError(res, 415, "unsupported_media_type",
              "send the request body as JSON with Content-Type: application/json");
    return true;
  }
  if (!Safe(req.method) && req.has_header("Origin")) {
    const auto origin = req.get_header_value("Origin");
    const auto host = req.get_header_value("Host");
    const bool same = !host.empty() && (origin == "http://" + host || origin == "https://" + host);
    const bool allowed =
        std::find(allowed_origins.begin(), allowed_origins.end(), origin) != allowed_origins.end();
    if (!same && !allowed) {
      SendError(res, 403, "forbidden_origin",
                "requests from pages of " + origin.substr(0, 200) + " are not accepted");
      return true;
    }
  }
  if (req.has_header("Range") && req.get_header_value("Range").find(',') != std::string::npos) {
    // cpp-httplib parsed the ranges before routing and would cut even this error body into them
    // (a multipart answer a few hundred times its size): forget them. The Request object itself
    // is not const (cpp-httplib owns it and hands handlers a const view).
    const_cast<httplib::Request&>(req).ranges.clear();
    SendError(res, 416, "range_not_satisfiable", "one byte range per request");
    return true;
  }
  return false;
}

void ConfigureJsonServer(Server& server, const ServerOptions& options) {
  server.set_tcp_nodelay(true);
  const ServerLimits limits = options.limits;
  // cpp-httplib 0.11 listens with a backlog of 5: a burst of connections (500 clients opening at
  // once, say) overflows it and the kernel drops SYNs, which clients resend only after a second.
  // The listening socket is remembered when it is created and listens again, with the system's
  // maximum backlog, when serving starts (after bind; Linux lets listen() change the backlog).
  auto listening = std::make_shared<std::atomic<int>>(-1);
  server.set_socket_options([listening](socket_t sock) {
    httplib::default_socket_options(sock);
    listening->store(sock);
  });
  server.new_task_queue = [listening, max = limits.max_connections] {
    if (const int sock = listening->load(); sock >= 0) ::listen(sock, SOMAXCONN);
    return new ConnectionQueue(max);
  };
  server.set_read_timeout(limits.read_timeout);
  server.SetClientLimits(limits.max_connections_per_client, limits.request_timeout);
  server.SetClientPrefixes(limits.client_prefix_v4, limits.client_prefix_v6);
  server.set_keep_alive_timeout(limits.keep_alive_timeout.count());
  // Bodies over the limit are refused with 413 before any handler runs.
  server.set_payload_max_length(options.max_body_bytes);
  const std::size_t max_body = options.max_body_bytes;
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& req, httplib::Response& res) {
        // Handlers always send a body with their errors: an empty 404 is a path no route matched.
        if (res.status == 404 && res.body.empty()) t_unmatched = true;
        if (res.status >= 400 && res.body.empty()) {
          res.set_content(
              ErrorBody(DefaultCode(res.status), DefaultMessage(res.status, req, max_body)),
              "application/json");
        }
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("unhandled exception in {} {}: {}", req.method, req.path, what);
        SendError(res, 500, "internal", "internal error");
      });
  server.set_pre_routing_handler(
      [pre_routing = options.pre_routing, origins = options.allowed_origins,
       token = options.api_token, metrics_public = options.metrics_public,
       is_public = options.is_public](const httplib::Request& req, httplib::Response& res) {
        t_request_started = std::chrono::steady_clock::now();
        t_unmatched = false;
        t_authorized =
            token.empty() || BearerTokenMatches(req.get_header_value("Authorization"), token);
        if (GuardRequest(req, res, origins)) return httplib::Server::HandlerResponse::Handled;
        if (!t_authorized && !IsProbeRequest(req.method, req.path) &&
            !(metrics_public && (req.method == "GET" || req.method == "HEAD") &&
              req.path == "/metrics") &&
            !(is_public && is_public(req.method, req.path))) {
          SendUnauthorized(req, res);
          return httplib::Server::HandlerResponse::Handled;
        }
        return pre_routing ? pre_routing(req, res) : httplib::Server::HandlerResponse::Unhandled;
      });
  const bool info = options.log_requests_at_info;
  server.set_logger([info](const httplib::Request& req, const httplib::Response& res) {
    RecordRequest(req, res);
    // Health probes are frequent; keep them out of the info log.
    if (info && req.path != "/healthz" && req.path != "/readyz") {
      spdlog::info("{} {} -> {}", req.method, req.path, res.status);
    } else {
      spdlog::debug("{} {} -> {}", req.method, req.path, res.status);
    }
  });
}

void AddHealthRoutes(httplib::Server& server, ReadinessProbe probe) {
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, json{{"status", "ok"}});
  });
  server.Get("/readyz",
             [probe = std::move(probe)](const httplib::Request&, httplib::Response& res) {
               json r = probe ? probe() : json{{"ready", true}};
               // Why a check fails names hosts, ports and server messages: only for callers with
               // the token (or when the server has none).
               if (!t_authorized) r.erase("errors");
               SendJson(res, r.value("ready", false) ? 200 : 503, r);
             });
  AddMetricsRoute(server);
}

void AddMetricsRoute(httplib::Server& server) {
  server.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(metrics::Registry::Default().Render(), metrics::kContentType);
  });
}

}  // namespace chansum::http
