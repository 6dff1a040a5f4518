#include "chansum/service/backoff.hpp"

#include <algorithm>
#include <random>
#include <thread>
#include <utility>

#include "chansum/common/signals.hpp"

namespace chansum::service {

Backoff::Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max,
                 ShouldStop should_stop)
    : first_(first),
      max_(std::max(first, max)),
      next_(first),
      should_stop_(std::move(should_stop)) {
  if (!should_stop_) should_stop_ = [] { return StopSignal::Requested(); };
}

std::chrono::milliseconds Backoff::Next() {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  const auto d = std::chrono::milliseconds(
      static_cast<long>(static_cast<double>(next_.count()) * jitter(rng)));
  next_ = std::min(next_ * 2, max_);
  return d;
}

bool Backoff::Wait() { return Sleep(Next()); }

bool Backoff::Sleep(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (should_stop_()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(20), until - std::chrono::steady_clock::now()));
  }
  return !should_stop_();
}

}  // namespace chansum::service
