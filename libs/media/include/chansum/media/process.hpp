#pragma once
// Child processes without a shell: RunProcess forks, puts the child in its own process group and
// execs an argv (the program is looked up on PATH before the fork). stdin is /dev/null, stdout is
// captured up to a bound, only the tail of stderr is kept. A timeout or a stop request sends
// SIGTERM and then SIGKILL to the whole group, grandchildren included; leftovers in the group are
// killed when the child exits. Safe to call from several threads at once.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chansum/common/result.hpp"

namespace chansum::media {

struct ProcessOptions {
  std::optional<std::filesystem::path> working_dir;
  // Added to (or replacing entries of) the parent's environment.
  std::vector<std::pair<std::string, std::string>> env;
  // Zero means no timeout.
  std::chrono::milliseconds timeout{0};
  // Time between SIGTERM and SIGKILL once the child must stop.
  std::chrono::milliseconds kill_grace{2000};
  // More stdout than this kills the child and fails the call (permanent "output_too_large").
  std::size_t max_stdout_bytes = std::size_t{64} << 20;
  // Only the last bytes of stderr are kept.
  std::size_t stderr_tail_bytes = 4096;
  // Polled about every 100 ms while waiting; true stops the child (result.canceled).
  std::function<bool()> should_stop;
};

struct ProcessResult {
  int exit_code = -1;   // exit status when the child exited, else -1
  int term_signal = 0;  // signal that killed the child, else 0
  bool timed_out = false;
  bool canceled = false;  // should_stop returned true
  std::chrono::milliseconds duration{0};
  std::string stdout_data;
  std::string stderr_tail;
  bool stderr_truncated = false;  // stderr was longer than stderr_tail

  // Exited normally with status 0, within the time limit and not canceled.
  [[nodiscard]] bool Succeeded() const noexcept {
    return exit_code == 0 && term_signal == 0 && !timed_out && !canceled;
  }
};

// Runs argv[0] (looked up on PATH unless it holds a '/') with arguments argv[1..], never through a
// shell. A failed run (non-zero exit, signal, timeout, cancel) is still a ProcessResult; errors are
// only for runs that could not happen or went out of bounds:
//   permanent "program_not_found" ("yt-dlp: not found"), "exec_failed", "invalid_argument",
//   "output_too_large"; transient "spawn_failed" (fork/pipe failures).
[[nodiscard]] Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                               const ProcessOptions& options);

// One message for a failed run, as recorded in a video's last_error: what happened (exit code,
// signal, timeout, stop) and the trimmed stderr tail, as valid UTF-8 without control characters
// other than newlines. E.g. "yt-dlp exited with code 1: ERROR: Unsupported URL: https://x/".
[[nodiscard]] std::string DescribeFailure(const ProcessResult& result, std::string_view program);

// Trims whitespace, removes ANSI escapes and control characters (keeps '\n' and '\t') and replaces
// invalid UTF-8 with '?'. Used for text that leaves the process as JSON.
[[nodiscard]] std::string CleanText(std::string_view text);

}  // namespace chansum::media
