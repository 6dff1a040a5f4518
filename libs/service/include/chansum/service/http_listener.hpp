#pragma once
// An HTTP server as a component: routes are registered on server() before Start, which binds
// (failing the start when the address is taken) and serves on a thread of its own; Stop stops it.
// The one health/metrics listener of a process is one of these with ServeHealth().
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>

#include "chansum/http/exposure.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/service/service.hpp"

namespace chansum::service {

class HttpListener : public Component {
 public:
  // `port` 0 binds any free port (see port()). Not `required`: an address that cannot be bound is
  // logged as an error and the service runs on without this listener.
  HttpListener(std::string name, std::string addr, int port, bool required = true);
  ~HttpListener() override;

  [[nodiscard]] const std::string& Name() const override { return name_; }
  Status Start() override;
  bool Stop(Clock::time_point deadline) override;

  [[nodiscard]] http::Server& server() noexcept { return *server_; }
  // The bound port once started (0 before).
  [[nodiscard]] int port() const noexcept { return bound_port_; }

  // GET /healthz, GET /readyz from `probe` (200 when its "ready" is true, else 503) and GET
  // /metrics on a JSON server (http::ConfigureJsonServer, requests logged at debug). With a token
  // in `access`, /readyz shows why a check fails only to callers with the token, and /metrics
  // needs it unless this listener is on loopback; the probes themselves stay open.
  void ServeHealth(http::ReadinessProbe probe, const http::AccessConfig& access = {});

 private:
  const std::string name_;
  const std::string addr_;
  const int port_;
  const bool required_;
  int bound_port_ = 0;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

}  // namespace chansum::service
