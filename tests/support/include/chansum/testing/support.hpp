#pragma once
// Helpers for integration and end-to-end tests: child processes (the real service binaries),
// free ports, environment, and waiting for conditions.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace chansum::testing {

// A child process started with an argv (no shell) and extra environment; its output goes to a
// log file. The destructor sends SIGTERM, waits up to 20 s, then SIGKILLs.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env,
               std::filesystem::path log_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool Running();
  // SIGTERM and wait; returns the exit status as from waitpid (-1 if it had to be killed).
  int Stop(std::chrono::seconds grace = std::chrono::seconds(20));
  void Kill();  // SIGKILL, no grace
  [[nodiscard]] const std::filesystem::path& log_file() const noexcept { return log_file_; }
  [[nodiscard]] std::string LogTail(std::size_t bytes = 4000) const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::filesystem::path log_file_;
};

// An unused TCP port on 127.0.0.1 (bound then released).
[[nodiscard]] int FreePort();
// The value of an environment variable, or a test failure naming it when unset.
[[nodiscard]] std::string RequireEnv(const std::string& name);
// A mongodb:// or postgresql:// URL naming `database` instead of the one it names (options kept).
// The document store takes the URI's database over DocstoreConfig::database, so a test that wants
// a database of its own (to drop its collections without touching another test's) sets it here.
[[nodiscard]] std::string UrlWithDatabase(const std::string& url, const std::string& database);
// Polls `condition` every `interval` until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds interval = std::chrono::milliseconds(200));
// A fresh temporary directory (removed by the caller if wanted).
[[nodiscard]] std::filesystem::path MakeTempDir(const std::string& prefix);
// Random lower-case alphanumeric suffix for unique names.
[[nodiscard]] std::string RandomSuffix(std::size_t n = 8);
// Runs a command to completion (argv, no shell); returns its exit code and fills `output`.
int RunCommand(const std::vector<std::string>& argv, std::string* output = nullptr);

}  // namespace chansum::testing
