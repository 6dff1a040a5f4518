#include "chansum/media/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace chansum::media {
namespace {

using Clock = std::chrono::steady_clock;

// Poll slice: how often should_stop is checked and, without a pidfd, how often exit is checked.
constexpr std::chrono::milliseconds kPollSlice{100};
constexpr std::chrono::milliseconds kPollSliceNoPidfd{10};
// After the child exited and its group was killed, how long pipes may still be drained.
constexpr std::chrono::milliseconds kDrainAfterExit{1000};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// pipe2(O_CLOEXEC) with both ends moved to fd >= 3, so dup2 onto 0/1/2 in the child never
// targets a pipe end itself.
bool MakePipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  for (int& fd : fds) {
    if (fd < 3) {
      const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
      ::close(fd);
      fd = moved;
    }
  }
  read_end = Fd(fds[0]);
  write_end = Fd(fds[1]);
  return fds[0] >= 0 && fds[1] >= 0;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::optional<std::string> FindEnv(const std::vector<std::pair<std::string, std::string>>& env,
                                   const std::string& name) {
  for (auto it = env.rbegin(); it != env.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return std::nullopt;
}

// Resolves a program the way execvp would, before the fork (execvp itself may allocate).
std::optional<std::string> ResolveProgram(const std::string& program, const ProcessOptions& opts) {
  if (program.find('/') != std::string::npos) {
    std::filesystem::path p = program;
    if (p.is_relative() && opts.working_dir) p = *opts.working_dir / p;
    if (IsExecutableFile(p.string())) return p.string();
    return std::nullopt;
  }
  std::string path_var = "/usr/local/bin:/usr/bin:/bin";
  if (auto from_opts = FindEnv(opts.env, "PATH")) {
    path_var = *from_opts;
  } else if (const char* from_env = std::getenv("PATH")) {
    path_var = from_env;
  }
  std::size_t start = 0;
  while (start <= path_var.size()) {
    std::size_t end = path_var.find(':', start);
    if (end == std::string::npos) end = path_var.size();
    std::string dir = path_var.substr(start, end - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + program;
    if (IsExecutableFile(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

std::vector<std::string> BuildEnvironment(const ProcessOptions& opts) {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const auto eq = entry.find('=');
    const std::string name(entry.substr(0, eq));
    if (FindEnv(opts.env, name)) continue;
    out.emplace_back(entry);
  }
  for (const auto& [name, value] : opts.env) {
    bool seen_later = false;
    // Last setting of a name wins; add each name once.
    for (const auto& entry : out) {
      if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
          entry[name.size()] == '=') {
        seen_later = true;
        break;
      }
    }
    if (seen_later) continue;
    out.push_back(name + "=" + *FindEnv(opts.env, name));
  }
  return out;
}

// Written by the child to the error pipe when it fails before exec.
struct ChildFailure {
  int stage;  // 1 chdir, 2 stdin, 3 dup2, 4 exec
  int err;
};

[[noreturn]] void ChildFail(int fd, int stage) {
  ChildFailure f{stage, errno};
  ssize_t ignored = ::write(fd, &f, sizeof f);
  (void)ignored;
  ::_exit(127);
}

void KillGroup(pid_t pgid, int sig) {
  // The group id equals the child's pid; it cannot be reused while the (possibly zombie) child
  // is not reaped.
  ::kill(-pgid, sig);
  ::kill(pgid, sig);  // in case setpgid had not taken effect yet
}

void AppendTail(std::string& tail, std::string_view data, std::size_t limit, bool& truncated) {
  tail.append(data);
  // Trim in batches to keep appends amortized.
  if (tail.size() > 2 * limit + 4096) {
    tail.erase(0, tail.size() - limit);
    truncated = true;
  }
}

int CloseRangeCloexec() {
#if defined(SYS_close_range)
  // CLOSE_RANGE_CLOEXEC (1U << 2): mark every fd >= 3 close-on-exec so descriptors that other
  // code opened without O_CLOEXEC do not leak into the child.
  return static_cast<int>(::syscall(SYS_close_range, 3U, ~0U, 1U << 2));
#else
  return -1;
#endif
}

int PidfdOpen(pid_t pid) {
#if defined(SYS_pidfd_open)
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

// Everything the child needs, prepared before the fork: between fork and exec the child only
// makes async-signal-safe calls (no allocation, no locks).
struct ChildPlan {
  std::string path;  // the resolved program
  std::vector<std::string> env;
  bool has_cwd = false;
  std::string cwd;
  std::vector<char*> c_argv;
  std::vector<char*> c_env;
  struct sigaction default_action {};
  sigset_t empty_mask{};
};

ChildPlan PrepareChild(const std::vector<std::string>& argv, const std::string& path,
                       const ProcessOptions& options) {
  ChildPlan plan;
  plan.path = path;
  plan.c_argv.reserve(argv.size() + 1);
  for (const auto& arg : argv) plan.c_argv.push_back(const_cast<char*>(arg.c_str()));
  plan.c_argv.push_back(nullptr);
  plan.env = BuildEnvironment(options);
  plan.c_env.reserve(plan.env.size() + 1);
  for (const auto& e : plan.env) plan.c_env.push_back(const_cast<char*>(e.c_str()));
  plan.c_env.push_back(nullptr);
  plan.has_cwd = options.working_dir.has_value();
  if (plan.has_cwd) plan.cwd = options.working_dir->string();
  plan.default_action.sa_handler = SIG_DFL;
  sigemptyset(&plan.default_action.sa_mask);
  sigemptyset(&plan.empty_mask);
  return plan;
}

struct Pipes {
  Fd out_r, out_w, err_r, err_w;
  Fd status_r, status_w;  // the child's ChildFailure when it fails before exec; closed by exec
};

// In the child: own process group, default signal handlers, stdin /dev/null, stdout and stderr
// to the pipes, then exec. Never returns.
[[noreturn]] void ExecChild(const ChildPlan& plan, const Pipes& pipes) {
  const int status_fd = pipes.status_w.get();
  ::setpgid(0, 0);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    ::sigaction(sig, &plan.default_action, nullptr);
  }
  ::sigprocmask(SIG_SETMASK, &plan.empty_mask, nullptr);
  if (plan.has_cwd && ::chdir(plan.cwd.c_str()) != 0) ChildFail(status_fd, 1);
  const int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull < 0) ChildFail(status_fd, 2);
  if (::dup2(devnull, 0) < 0 || ::dup2(pipes.out_w.get(), 1) < 0 ||
      ::dup2(pipes.err_w.get(), 2) < 0) {
    ChildFail(status_fd, 3);
  }
  CloseRangeCloexec();
  ::execve(plan.path.c_str(), plan.c_argv.data(), plan.c_env.data());
  ChildFail(status_fd, 4);
}

// In the parent: waits until the child has exec'd (the status pipe closes) or failed before it
// (reaps it and returns the error).
std::optional<Error> AwaitExec(pid_t pid, Fd& status_r, const std::string& program,
                               const std::string& cwd) {
  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(status_r.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  status_r.Reset();
  if (n != static_cast<ssize_t>(sizeof failure)) return std::nullopt;
  int ignored_status;
  while (::waitpid(pid, &ignored_status, 0) < 0 && errno == EINTR) {
  }
  if (failure.stage == 4 && failure.err == ENOENT) {
    return Error::Permanent("program_not_found", program + ": not found");
  }
  const std::string what = failure.stage == 1   ? "cannot change directory to " + cwd + ": "
                           : failure.stage == 4 ? std::string("cannot execute: ")
                                                : std::string("cannot set up stdio: ");
  return Error::Permanent("exec_failed", program + ": " + what + std::strerror(failure.err));
}

// Follows a started child until it has exited and its pipes are drained: reads stdout (bounded)
// and the stderr tail, enforces the timeout, the stop predicate and the output bound (SIGTERM to
// the group, SIGKILL after the grace), and kills what the child left in its group when it exits.
class ChildWatch {
 public:
  ChildWatch(pid_t pid, Pipes& pipes, const ProcessOptions& options, Clock::time_point start)
      : pid_(pid),
        pidfd_(PidfdOpen(pid)),
        out_r_(pipes.out_r),
        err_r_(pipes.err_r),
        options_(options),
        deadline_(options.timeout.count() > 0 ? start + options.timeout : Clock::time_point::max()),
        buffer_(64 * 1024, '\0') {}

  // Runs until the end; then result(), overflow() and wait_status() tell how it went.
  void Run() {
    while (true) {
      if (!leader_reaped_) ReapIfExited();
      if (leader_reaped_ && out_r_.get() < 0 && err_r_.get() < 0) break;
      const auto now = Clock::now();
      if (leader_reaped_ && now >= drain_deadline_) break;
      if (!leader_reaped_) EnforceLimits(now);
      PollAndRead(now);
    }
  }

  [[nodiscard]] ProcessResult& result() { return result_; }
  [[nodiscard]] bool overflow() const { return overflow_; }
  [[nodiscard]] int wait_status() const { return wait_status_; }

 private:
  enum class KillStage { kNone, kTerm, kKill };

  void ReapIfExited() {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != pid_) {
      return;
    }
    // The child exited but is not reaped yet, so its group id stays ours: kill whatever it left
    // behind in the group, then reap it.
    KillGroup(pid_, SIGKILL);
    while (::waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
    }
    leader_reaped_ = true;
    pidfd_.Reset();
    drain_deadline_ = Clock::now() + kDrainAfterExit;
  }

  void EnforceLimits(Clock::time_point now) {
    if (kill_stage_ == KillStage::kTerm && now >= term_at_ + options_.kill_grace) {
      KillGroup(pid_, SIGKILL);
      kill_stage_ = KillStage::kKill;
    }
    if (kill_stage_ != KillStage::kNone) return;
    if (overflow_) {
      // stop below
    } else if (now >= deadline_) {
      result_.timed_out = true;
    } else if (options_.should_stop && options_.should_stop()) {
      result_.canceled = true;
    } else {
      return;
    }
    KillGroup(pid_, SIGTERM);
    kill_stage_ = KillStage::kTerm;
    term_at_ = now;
  }

  // How long poll may sleep. Without a pidfd the child's exit is only seen by checking, so check
  // often.
  [[nodiscard]] int PollTimeoutMs(Clock::time_point now) const {
    const auto slice = (!leader_reaped_ && pidfd_.get() < 0) ? kPollSliceNoPidfd : kPollSlice;
    auto until = now + slice;
    if (!leader_reaped_ && kill_stage_ == KillStage::kNone) until = std::min(until, deadline_);
    if (kill_stage_ == KillStage::kTerm) until = std::min(until, term_at_ + options_.kill_grace);
    if (leader_reaped_) until = std::min(until, drain_deadline_);
    return static_cast<int>(
        std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(until - now).count()));
  }

  void PollAndRead(Clock::time_point now) {
    pollfd fds[3];
    int nfds = 0;
    int out_idx = -1, err_idx = -1;
    if (out_r_.get() >= 0) {
      out_idx = nfds;
      fds[nfds++] = {out_r_.get(), POLLIN, 0};
    }
    if (err_r_.get() >= 0) {
      err_idx = nfds;
      fds[nfds++] = {err_r_.get(), POLLIN, 0};
    }
    // A readable pidfd just ends the poll; ReapIfExited does the rest.
    if (!leader_reaped_ && pidfd_.get() >= 0) fds[nfds++] = {pidfd_.get(), POLLIN, 0};
    const int ready = ::poll(fds, static_cast<nfds_t>(nfds), PollTimeoutMs(now));
    if (ready < 0) {
      if (errno != EINTR) ::usleep(10000);  // should not happen; avoid a busy loop
      return;
    }
    if (out_idx >= 0) Read(fds[out_idx], out_r_, true);
    if (err_idx >= 0) Read(fds[err_idx], err_r_, false);
  }

  void Read(const pollfd& polled, Fd& fd, bool is_stdout) {
    if ((polled.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) == 0) return;
    const ssize_t got = ::read(fd.get(), buffer_.data(), buffer_.size());
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) return;
      fd.Reset();
      return;
    }
    if (got == 0) {
      fd.Reset();
      return;
    }
    const std::string_view data(buffer_.data(), static_cast<std::size_t>(got));
    if (!is_stdout) {
      AppendTail(result_.stderr_tail, data, options_.stderr_tail_bytes, result_.stderr_truncated);
      return;
    }
    if (overflow_) return;  // keep draining so the child is not blocked, drop the data
    if (result_.stdout_data.size() + data.size() > options_.max_stdout_bytes) {
      overflow_ = true;
      return;
    }
    result_.stdout_data.append(data);
  }

  const pid_t pid_;
  Fd pidfd_;
  Fd& out_r_;
  Fd& err_r_;
  const ProcessOptions& options_;
  const Clock::time_point deadline_;
  std::string buffer_;
  ProcessResult result_;
  bool overflow_ = false;
  bool leader_reaped_ = false;
  int wait_status_ = 0;
  KillStage kill_stage_ = KillStage::kNone;
  Clock::time_point term_at_{};
  Clock::time_point drain_deadline_{};
};

std::optional<Error> CheckArgv(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) {
    return Error::Permanent("invalid_argument", "RunProcess: empty argv");
  }
  for (const auto& arg : argv) {
    if (arg.find('\0') != std::string::npos) {
      return Error::Permanent("invalid_argument", argv[0] + ": argument holds a NUL byte");
    }
  }
  return std::nullopt;
}

// The result of a watched run: duration, exit code or signal, the stderr tail cut to its bound.
Result<ProcessResult> Finish(ChildWatch& watch, const std::string& program,
                             const ProcessOptions& options, Clock::time_point start) {
  ProcessResult& result = watch.result();
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  if (result.stderr_tail.size() > options.stderr_tail_bytes) {
    result.stderr_tail.erase(0, result.stderr_tail.size() - options.stderr_tail_bytes);
    result.stderr_truncated = true;
  }
  const int wait_status = watch.wait_status();
  if (WIFEXITED(wait_status)) {
    result.exit_code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    result.term_signal = WTERMSIG(wait_status);
  }
  if (watch.overflow()) {
    return Error::Permanent("output_too_large", fmt::format("{}: output exceeded {} bytes", program,
                                                            options.max_stdout_bytes));
  }
  return std::move(result);
}

}  // namespace

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                 const ProcessOptions& options) {
  if (auto invalid = CheckArgv(argv)) return *invalid;
  const std::string& program = argv[0];
  const auto resolved = ResolveProgram(program, options);
  if (!resolved) return Error::Permanent("program_not_found", program + ": not found");
  const ChildPlan plan = PrepareChild(argv, *resolved, options);

  Pipes pipes;
  if (!MakePipe(pipes.out_r, pipes.out_w) || !MakePipe(pipes.err_r, pipes.err_w) ||
      !MakePipe(pipes.status_r, pipes.status_w)) {
    return Error::Transient("spawn_failed",
                            program + ": cannot create pipes: " + std::strerror(errno));
  }
  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    return Error::Transient("spawn_failed", program + ": fork failed: " + std::strerror(errno));
  }
  if (pid == 0) ExecChild(plan, pipes);

  ::setpgid(pid, pid);  // also done by the child; whichever runs first wins (errors ignored)
  pipes.out_w.Reset();
  pipes.err_w.Reset();
  pipes.status_w.Reset();
  if (auto failed = AwaitExec(pid, pipes.status_r, program, plan.cwd)) return *failed;

  ChildWatch watch(pid, pipes, options, start);
  watch.Run();
  return Finish(watch, program, options, start);
}

}  // namespace chansum::media
