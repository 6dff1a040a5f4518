#pragma once
// Readiness that never waits for a server. A DependencyCheck runs one dependency's check (a round
// trip such as `SELECT 1` or a Mongo `ping`) on a thread of its own, again `interval` after each
// answer, and keeps the outcome; GET /readyz only reads it, so it answers at once even while a
// server is down or hangs. A check still running after `deadline` counts as failed meanwhile,
// whatever the client library's own timeout (MONGO_TIMEOUT, PG_CONNECT_TIMEOUT), so a dependency
// that stops answering makes the service not ready within about interval + deadline, and ready
// again within about interval of its first good answer. One check runs at a time per dependency:
// slow servers never pile up threads.
//
//   http::DependencyCheck docstore("docstore", [&] { return docs->Ping(); });
//   http::AddHealthRoutes(server, [&] {
//     return http::ReadinessBody({{"docstore", docstore.Last()},
//                                 {"rabbitmq", http::FlagCheck(amqp_ok, "not connected")}});
//   });
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"

namespace chansum::http {

struct DependencyCheckOptions {
  // Pause between the end of one check and the start of the next.
  std::chrono::milliseconds interval{std::chrono::seconds(1)};
  // A check running longer than this counts as failed until it answers.
  std::chrono::milliseconds deadline{std::chrono::seconds(2)};
};

class DependencyCheck {
 public:
  using Check = std::function<Status()>;

  // Starts the thread; the first check runs at once. Until it answers, Last() is a failure ("not
  // checked yet"). `check` runs only on that thread; an exception it throws counts as a failure.
  DependencyCheck(std::string name, Check check, DependencyCheckOptions options = {});
  // Stops the thread, waiting for a check in progress (bounded by the client's own timeout).
  ~DependencyCheck();
  DependencyCheck(const DependencyCheck&) = delete;
  DependencyCheck& operator=(const DependencyCheck&) = delete;

  // Never blocks on the dependency: the last answer, or a "timeout" error while the check in
  // progress has run longer than the deadline.
  [[nodiscard]] Status Last() const;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  using Clock = std::chrono::steady_clock;
  void Loop();

  const std::string name_;
  const Check check_;
  const DependencyCheckOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;                               // guarded by mu_
  Status last_;                                     // guarded by mu_
  std::optional<Clock::time_point> running_since_;  // guarded by mu_: a check is in progress
  std::thread thread_;
};

// A dependency whose state another loop keeps in a flag: Ok, or a failure saying `why_not`.
[[nodiscard]] Status FlagCheck(bool ok, std::string why_not);

// The /readyz body: {"ready": every check passed, "checks": {name: passed}, "errors": {name: why}}
// ("errors" lists only the failing checks; absent when none fails). Callers may add
// informational entries to "checks" afterwards.
[[nodiscard]] nlohmann::json ReadinessBody(
    const std::vector<std::pair<std::string, Status>>& checks);

}  // namespace chansum::http
