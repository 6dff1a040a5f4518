#include "chansum/http/readiness.hpp"

#include <exception>

#include <spdlog/spdlog.h>

namespace chansum::http {

DependencyCheck::DependencyCheck(std::string name, Check check, DependencyCheckOptions options)
    : name_(std::move(name)),
      check_(std::move(check)),
      options_(options),
      last_(Error::Transient("not_checked", "not checked yet")) {
  thread_ = std::thread([this] { Loop(); });
}

DependencyCheck::~DependencyCheck() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Status DependencyCheck::Last() const {
  std::lock_guard lock(mu_);
  if (running_since_ && Clock::now() - *running_since_ > options_.deadline) {
    std::string message = "no answer within " + std::to_string(options_.deadline.count()) + " ms";
    // The previous failure, if any, usually says more (which server, which error).
    if (!last_.ok() && last_.error().code != "not_checked") {
      message += " (before: " + last_.error().message + ")";
    }
    return Error::Transient("timeout", std::move(message));
  }
  return last_;
}

void DependencyCheck::Loop() {
  std::optional<bool> logged_ok;  // what the log last said about this dependency
  std::unique_lock lock(mu_);
  while (!stop_) {
    running_since_ = Clock::now();
    lock.unlock();
    Status status = OkStatus();
    try {
      status = check_();
    } catch (const std::exception& e) {
      status = Error::Transient("check_failed", e.what());
    } catch (...) {
      status = Error::Transient("check_failed", "unknown exception");
    }
    if (!status.ok() && logged_ok.value_or(true)) {
      spdlog::warn("readiness: {} fails ({})", name_, status.error().message);
      logged_ok = false;
    } else if (status.ok() && !logged_ok.value_or(true)) {
      spdlog::info("readiness: {} answers again", name_);
      logged_ok = true;
    }
    lock.lock();
    running_since_.reset();
    last_ = std::move(status);
    wake_.wait_for(lock, options_.interval, [this] { return stop_; });
  }
}

Status FlagCheck(bool ok, std::string why_not) {
  if (ok) return OkStatus();
  return Error::Transient("unavailable", std::move(why_not));
}

nlohmann::json ReadinessBody(const std::vector<std::pair<std::string, Status>>& checks) {
  nlohmann::json body = {{"ready", true}, {"checks", nlohmann::json::object()}};
  for (const auto& [name, status] : checks) {
    body["checks"][name] = status.ok();
    if (status.ok()) continue;
    body["ready"] = false;
    body["errors"][name] = status.error().message;
  }
  return body;
}

}  // namespace chansum::http
