#pragma once
// Shared stop-signal helper: SIGTERM/SIGINT set a flag that long-running loops poll; SIGPIPE is
// ignored (a broken connection must surface as an error, not kill the process).
#include <atomic>
#include <chrono>

namespace chansum {

class StopSignal {
 public:
  // Installs handlers for SIGTERM and SIGINT and ignores SIGPIPE. Idempotent.
  static void Install();
  [[nodiscard]] static bool Requested() noexcept;
  // Requests a stop from inside the process (tests, fatal errors).
  static void Request() noexcept;
  // Clears the flag (tests only).
  static void Reset() noexcept;
  // Sleeps up to `d`, returning early (true) when a stop is requested.
  static bool WaitFor(std::chrono::milliseconds d);
};

}  // namespace chansum
