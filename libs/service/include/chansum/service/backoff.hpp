#pragma once
// The one retry backoff of the code base: exponential (doubling from `first` up to `max`) with
// jitter (each wait is 50%..100% of the current step), and waits that end early when a stop is
// requested.
#include <chrono>
#include <functional>

namespace chansum::service {

class Backoff {
 public:
  using ShouldStop = std::function<bool()>;
  // `should_stop` is polled while waiting; empty = StopSignal::Requested (SIGTERM/SIGINT).
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max,
          ShouldStop should_stop = {});

  // Sleeps for the next step (with jitter); false when a stop was requested before or during it.
  bool Wait();
  // The next wait (with jitter) without sleeping; advances the step like Wait().
  [[nodiscard]] std::chrono::milliseconds Next();
  // Sleeps `d` (e.g. a Next() that was logged first); false when a stop was requested.
  bool Sleep(std::chrono::milliseconds d);
  // Back to `first` after a success.
  void Reset() noexcept { next_ = first_; }

 private:
  std::chrono::milliseconds first_, max_, next_;
  ShouldStop should_stop_;
};

}  // namespace chansum::service
