#include "chansum/service/http_listener.hpp"

#include <spdlog/spdlog.h>

namespace chansum::service {

HttpListener::HttpListener(std::string name, std::string addr, int port, bool required)
    : name_(std::move(name)),
      addr_(std::move(addr)),
      port_(port),
      required_(required),
      server_(std::make_unique<http::Server>()) {}

HttpListener::~HttpListener() { HttpListener::Stop(Clock::now()); }

Status HttpListener::Start() {
  const int bound = port_ == 0 ? server_->bind_to_any_port(addr_)
                               : (server_->bind_to_port(addr_, port_) ? port_ : -1);
  if (bound <= 0) {
    Error e = Error::Permanent("listen", "cannot listen on " + addr_ + ":" + std::to_string(port_));
    if (required_) return e;
    spdlog::error("{}: {}", name_, e.message);
    return OkStatus();
  }
  bound_port_ = bound;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return OkStatus();
}

bool HttpListener::Stop(Clock::time_point /*deadline*/) {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
  bound_port_ = 0;
  return true;
}

void HttpListener::ServeHealth(http::ReadinessProbe probe, const http::AccessConfig& access) {
  http::ServerOptions options{std::size_t{64} * 1024, false};
  access.ApplyTo(options, addr_);
  http::ConfigureJsonServer(*server_, options);
  http::AddHealthRoutes(*server_, std::move(probe));
}

}  // namespace chansum::service
