#pragma once
// A service is a list of components, started in order and stopped in reverse order within one
// shutdown bound; its readiness is the components' readiness together. Modelled on userver's
// component list and Seastar's app/stop-signal helpers, kept small:
//
//   service::Service svc("orchestrator", {.shutdown_timeout = config.shutdown_timeout});
//   svc.Add(std::make_unique<service::BackgroundLoop>("sweeper", step));
//   svc.Add(std::make_unique<service::HttpListener>("api", server, addr, port));
//   return svc.Run().ok() ? 0 : 1;  // starts, waits for SIGTERM/SIGINT, stops
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"

namespace chansum::service {

using Clock = std::chrono::steady_clock;

class Component {
 public:
  virtual ~Component() = default;
  // For logs and as the readiness check's name.
  [[nodiscard]] virtual const std::string& Name() const = 0;
  // Called once, in list order. An error stops the components already started (reverse order).
  virtual Status Start() { return OkStatus(); }
  // Called once for a started component, in reverse list order. Finish (or give up on) the work in
  // hand by `deadline`, shared by the whole shutdown; false = work was abandoned at the bound.
  virtual bool Stop(Clock::time_point /*deadline*/) { return true; }
  // This component's /readyz checks, by name (e.g. {"postgres", ...}); none by default. Never
  // blocks on a server: read a flag or an http::DependencyCheck.
  [[nodiscard]] virtual std::vector<std::pair<std::string, Status>> Checks() const { return {}; }
};

struct ServiceOptions {
  // SHUTDOWN_TIMEOUT_SECONDS: how long the whole ordered stop may take.
  std::chrono::seconds shutdown_timeout{30};

  // Reads SHUTDOWN_TIMEOUT_SECONDS (1–3600, default 30); problems are recorded in `env`. Every
  // service reads it through here, so one setting bounds every process's shutdown.
  [[nodiscard]] static ServiceOptions FromEnv(ConfigReader& env);
};

// The end of every main's configuration: logs all problems `env` collected as one critical line
// and returns true when there were any (the caller exits 2).
[[nodiscard]] bool ConfigFailed(const ConfigReader& env);

class Service {
 public:
  explicit Service(std::string name, ServiceOptions options = {});
  ~Service();  // stops what is still running
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Appends a component (before Start); returns it for wiring.
  template <typename C>
  C& Add(std::unique_ptr<C> component) {
    C& ref = *component;
    components_.push_back(std::move(component));
    return ref;
  }

  // Starts the components in order. When one fails, the ones started are stopped (reverse order)
  // and its error is returned.
  Status Start();
  // Stops the started components in reverse order, all by now + shutdown_timeout. False when a
  // component abandoned work or the bound was passed.
  bool Stop();
  // Installs the SIGTERM/SIGINT handlers, starts, waits for a stop request (a signal, or
  // StopSignal::Request() from a component that failed for good), stops. The start error, if any.
  Status Run();
  // Whether the last Stop() finished within the bound with nothing abandoned.
  [[nodiscard]] bool stopped_cleanly() const noexcept { return stopped_cleanly_; }

  // The /readyz body (http::ReadinessBody) over every component's checks, in list order; ready
  // only while every check passes.
  [[nodiscard]] nlohmann::json Readiness() const;

 private:
  std::string name_;
  ServiceOptions options_;
  std::vector<std::unique_ptr<Component>> components_;
  std::size_t started_ = 0;  // components_[0, started_) are running
  bool stopped_cleanly_ = true;
};

}  // namespace chansum::service
