#include "chansum/service/loop.hpp"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "chansum/service/backoff.hpp"

namespace chansum::service {

BackgroundLoop::BackgroundLoop(std::string name, Step step, LoopOptions options)
    : name_(std::move(name)), step_(std::move(step)), options_(options) {}

BackgroundLoop::~BackgroundLoop() { BackgroundLoop::Stop(Clock::now()); }

Status BackgroundLoop::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
  // Linux limits thread names to 15 characters.
  pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
  return OkStatus();
}

bool BackgroundLoop::Stop(Clock::time_point /*deadline*/) {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  return true;
}

bool BackgroundLoop::Sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, d, [this] { return stop_.load(); });
}

void BackgroundLoop::Loop() {
  Backoff backoff(options_.first_backoff, options_.max_backoff, [this] { return stop_.load(); });
  while (!stop_.load()) {
    Status st = OkStatus();
    try {
      st = step_(stop_);
    } catch (const std::exception& e) {
      st = Error::Transient("exception", e.what());
    }
    steps_.fetch_add(1);
    if (st.ok()) {
      backoff.Reset();
      if (!Sleep(options_.interval)) break;
      continue;
    }
    spdlog::warn("{}: {}", name_, st.error().message);
    if (!Sleep(backoff.Next())) break;
  }
}

std::unique_ptr<BackgroundLoop> RunUntilStopped(
    std::string name, std::function<void(const std::atomic<bool>& stop)> run) {
  return std::make_unique<BackgroundLoop>(std::move(name),
                                          [run = std::move(run)](const std::atomic<bool>& stop) {
                                            run(stop);
                                            return OkStatus();
                                          });
}

}  // namespace chansum::service
