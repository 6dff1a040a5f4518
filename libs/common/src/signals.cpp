#include "chansum/common/signals.hpp"

#include <csignal>
#include <thread>

namespace chansum {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void OnStopSignal(int /*sig*/) { g_stop.store(true); }

}  // namespace

void StopSignal::Install() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool StopSignal::Requested() noexcept { return g_stop.load(); }
void StopSignal::Request() noexcept { g_stop.store(true); }
void StopSignal::Reset() noexcept { g_stop.store(false); }

bool StopSignal::WaitFor(std::chrono::milliseconds d) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Requested()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Requested();
}

}  // namespace chansum
