#pragma once
// The `chansum` command line: submit, watch, jobs, show, transcript, summary, retry, cancel.
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace chansum::cli {

// Exit codes scripts can use.
inline constexpr int kExitOk = 0;             // done (a watched job ended `completed`)
inline constexpr int kExitInternal = 1;       // unexpected error in the CLI itself
inline constexpr int kExitUsage = 2;          // bad command line
inline constexpr int kExitApiError = 3;       // the API refused the request (4xx)
inline constexpr int kExitUnavailable = 4;    // the API is unreachable or failed (5xx)
inline constexpr int kExitJobFailed = 5;      // the watched job ended `failed`
inline constexpr int kExitJobWithErrors = 6;  // ... ended `completed_with_errors`
inline constexpr int kExitJobCancelled = 7;   // ... ended `cancelled`

struct Options {
  std::string command;
  std::vector<std::string> args;             // positional arguments after the command
  std::map<std::string, std::string> flags;  // --name value / --name (value "")
  bool help = false;
};

// Environment the CLI reads (CHANSUM_API, CHANSUM_API_PORT, CHANSUM_TOKEN), injectable for tests.
using Environment = std::map<std::string, std::string>;

// The API address used when neither --api nor CHANSUM_API gives one: the local deployment that
// `make demo` starts, http://127.0.0.1:<CHANSUM_API_PORT, default 28080>.
[[nodiscard]] std::string DefaultApiUrl(const Environment& env);

// Runs one invocation; returns the exit code. Output to `out`, one-line errors to `err`.
// `interactive`: stdout is a terminal (progress bars redrawn in place), else plain lines.
int Run(const std::vector<std::string>& argv, const Environment& env, std::ostream& out,
        std::ostream& err, bool interactive);

}  // namespace chansum::cli
