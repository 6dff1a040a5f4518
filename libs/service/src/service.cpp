#include "chansum/service/service.hpp"

#include <spdlog/spdlog.h>

#include "chansum/common/signals.hpp"
#include "chansum/http/readiness.hpp"

namespace chansum::service {

ServiceOptions ServiceOptions::FromEnv(ConfigReader& env) {
  return {std::chrono::seconds(env.Int("SHUTDOWN_TIMEOUT_SECONDS", 30, 1, 3600))};
}

bool ConfigFailed(const ConfigReader& env) {
  try {
    env.Finish();
    return false;
  } catch (const ConfigError& e) {
    spdlog::critical("{}", e.what());
    return true;
  }
}

Service::Service(std::string name, ServiceOptions options)
    : name_(std::move(name)), options_(options) {}

Service::~Service() {
  if (started_ > 0) Stop();
}

Status Service::Start() {
  for (; started_ < components_.size(); ++started_) {
    Component& c = *components_[started_];
    spdlog::debug("{}: starting {}", name_, c.Name());
    if (Status st = c.Start(); !st.ok()) {
      spdlog::critical("{}: {} failed to start: {}", name_, c.Name(), st.error().ToString());
      Stop();
      return st;
    }
  }
  return OkStatus();
}

bool Service::Stop() {
  const auto deadline = Clock::now() + options_.shutdown_timeout;
  bool clean = true;
  while (started_ > 0) {
    Component& c = *components_[--started_];
    spdlog::debug("{}: stopping {}", name_, c.Name());
    if (!c.Stop(deadline)) {
      spdlog::warn("{}: {} abandoned work at the shutdown bound", name_, c.Name());
      clean = false;
    }
  }
  if (Clock::now() > deadline) clean = false;
  stopped_cleanly_ = clean;
  return clean;
}

Status Service::Run() {
  StopSignal::Install();
  if (Status st = Start(); !st.ok()) return st;
  while (!StopSignal::WaitFor(std::chrono::milliseconds(200))) {
  }
  Stop();
  return OkStatus();
}

nlohmann::json Service::Readiness() const {
  std::vector<std::pair<std::string, Status>> checks;
  for (const auto& c : components_) {
    for (auto& check : c->Checks()) checks.push_back(std::move(check));
  }
  return http::ReadinessBody(checks);
}

}  // namespace chansum::service
