#pragma once
// A small HTTP site on 127.0.0.1 for tests (cpp-httplib): its routes, a port of its own, and a
// count of the requests it was sent, so a test can tell that a refused destination was never
// fetched. Header-only (target chansum::testsupport_http).
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace chansum::testing {

class HttpSite {
 public:
  // `routes` adds the site's handlers to its server; it gets the site too, for its own URLs.
  explicit HttpSite(const std::function<void(httplib::Server&, HttpSite&)>& routes) {
    routes(server_, *this);
    server_.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
      ++requests_;
      return httplib::Server::HandlerResponse::Unhandled;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ~HttpSite() {
    server_.stop();
    thread_.join();
  }
  HttpSite(const HttpSite&) = delete;
  HttpSite& operator=(const HttpSite&) = delete;

  [[nodiscard]] int Port() const { return port_; }
  // Requests received so far (counted before routing: unrouted ones too).
  [[nodiscard]] int Requests() const { return requests_.load(); }
  [[nodiscard]] std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  std::atomic<int> requests_{0};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace chansum::testing
