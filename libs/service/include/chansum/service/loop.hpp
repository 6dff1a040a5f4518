#pragma once
// The one background-loop helper: a named thread that runs `step` again and again until stopped.
// A step that succeeds waits `interval` before the next; one that fails (an error or an exception)
// is logged and retried after the loop's Backoff (reset by the next success). Stop() wakes the
// wait at once and joins the thread (a step in progress finishes first: keep steps short, or let
// a step that runs until stopped watch the flag it is given).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "chansum/common/result.hpp"
#include "chansum/service/service.hpp"

namespace chansum::service {

struct LoopOptions {
  std::chrono::milliseconds interval{std::chrono::seconds(1)};  // after a step that succeeded
  std::chrono::milliseconds first_backoff{200};                 // after a failed step, doubling
  std::chrono::milliseconds max_backoff{std::chrono::seconds(10)};
};

class BackgroundLoop : public Component {
 public:
  // `stop` becomes true when the loop is stopped: a step that runs until then watches it.
  using Step = std::function<Status(const std::atomic<bool>& stop)>;

  BackgroundLoop(std::string name, Step step, LoopOptions options = {});
  ~BackgroundLoop() override;

  [[nodiscard]] const std::string& Name() const override { return name_; }
  Status Start() override;
  bool Stop(Clock::time_point deadline) override;

  // Steps run so far (finished, successful or not).
  [[nodiscard]] std::uint64_t steps() const noexcept { return steps_.load(); }

 private:
  void Loop();
  // Sleeps up to `d`; false when stopped meanwhile.
  bool Sleep(std::chrono::milliseconds d);

  const std::string name_;
  const Step step_;
  const LoopOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> steps_{0};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
};

// A loop whose one step is `run`, which returns only once `stop` is true: for a loop that keeps its
// own connections and retries (a relay, a consumer) but should start and stop as a component.
[[nodiscard]] std::unique_ptr<BackgroundLoop> RunUntilStopped(
    std::string name, std::function<void(const std::atomic<bool>& stop)> run);

}  // namespace chansum::service
