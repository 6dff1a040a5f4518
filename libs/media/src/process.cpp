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

std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev != nullptr) return std::string("SIG") + abbrev;
  return std::to_string(sig);
}

}  // namespace

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                 const ProcessOptions& options) {
  if (argv.empty() || argv[0].empty()) {
    return Error::Permanent("invalid_argument", "RunProcess: empty argv");
  }
  for (const auto& arg : argv) {
    if (arg.find('\0') != std::string::npos) {
      return Error::Permanent("invalid_argument", argv[0] + ": argument holds a NUL byte");
    }
  }
  const std::string& program = argv[0];
  const auto resolved = ResolveProgram(program, options);
  if (!resolved) return Error::Permanent("program_not_found", program + ": not found");

  // Everything the child needs is prepared before the fork: between fork and exec the child only
  // makes async-signal-safe calls (no allocation, no locks).
  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (const auto& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  const std::vector<std::string> env = BuildEnvironment(options);
  std::vector<char*> c_env;
  c_env.reserve(env.size() + 1);
  for (const auto& e : env) c_env.push_back(const_cast<char*>(e.c_str()));
  c_env.push_back(nullptr);
  const std::string cwd = options.working_dir ? options.working_dir->string() : std::string();
  const char* c_cwd = options.working_dir ? cwd.c_str() : nullptr;
  const char* c_path = resolved->c_str();

  Fd out_r, out_w, err_r, err_w, status_r, status_w;
  if (!MakePipe(out_r, out_w) || !MakePipe(err_r, err_w) || !MakePipe(status_r, status_w)) {
    return Error::Transient("spawn_failed",
                            program + ": cannot create pipes: " + std::strerror(errno));
  }
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);

  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    return Error::Transient("spawn_failed", program + ": fork failed: " + std::strerror(errno));
  }
  if (pid == 0) {
    // Child.
    const int status_fd = status_w.get();
    ::setpgid(0, 0);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
      ::sigaction(sig, &default_action, nullptr);
    }
    ::sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
    if (c_cwd != nullptr && ::chdir(c_cwd) != 0) ChildFail(status_fd, 1);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull < 0) ChildFail(status_fd, 2);
    if (::dup2(devnull, 0) < 0 || ::dup2(out_w.get(), 1) < 0 || ::dup2(err_w.get(), 2) < 0) {
      ChildFail(status_fd, 3);
    }
    CloseRangeCloexec();
    ::execve(c_path, c_argv.data(), c_env.data());
    ChildFail(status_fd, 4);
  }

  // Parent.
  ::setpgid(pid, pid);  // also done by the child; whichever runs first wins (errors ignored)
  out_w.Reset();
  err_w.Reset();
  status_w.Reset();

  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(status_r.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    int ignored_status;
    while (::waitpid(pid, &ignored_status, 0) < 0 && errno == EINTR) {
    }
    const std::string what = failure.stage == 1   ? "cannot change directory to " + cwd + ": "
                             : failure.stage == 4 ? std::string("cannot execute: ")
                                                  : std::string("cannot set up stdio: ");
    std::string msg = program + ": " + what + std::strerror(failure.err);
    if (failure.stage == 4 && failure.err == ENOENT) {
      return Error::Permanent("program_not_found", program + ": not found");
    }
    return Error::Permanent("exec_failed", msg);
  }
  status_r.Reset();

  Fd pidfd(PidfdOpen(pid));
  ProcessResult result;
  bool overflow = false;
  bool leader_reaped = false;
  int wait_status = 0;
  enum class KillStage { kNone, kTerm, kKill } kill_stage = KillStage::kNone;
  Clock::time_point term_at{};
  Clock::time_point drain_deadline{};
  const Clock::time_point deadline =
      options.timeout.count() > 0 ? start + options.timeout : Clock::time_point::max();
  std::string buffer(64 * 1024, '\0');

  while (true) {
    if (!leader_reaped) {
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid) {
        // The child exited but is not reaped yet, so its group id stays ours: kill whatever it
        // left behind in the group, then reap it.
        KillGroup(pid, SIGKILL);
        while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
        }
        leader_reaped = true;
        pidfd.Reset();
        drain_deadline = Clock::now() + kDrainAfterExit;
      }
    }
    if (leader_reaped && out_r.get() < 0 && err_r.get() < 0) break;
    const auto now = Clock::now();
    if (leader_reaped && now >= drain_deadline) break;

    if (!leader_reaped) {
      if (kill_stage == KillStage::kNone) {
        bool stop = false;
        if (overflow) {
          stop = true;
        } else if (now >= deadline) {
          result.timed_out = true;
          stop = true;
        } else if (options.should_stop && options.should_stop()) {
          result.canceled = true;
          stop = true;
        }
        if (stop) {
          KillGroup(pid, SIGTERM);
          kill_stage = KillStage::kTerm;
          term_at = now;
        }
      } else if (kill_stage == KillStage::kTerm && now >= term_at + options.kill_grace) {
        KillGroup(pid, SIGKILL);
        kill_stage = KillStage::kKill;
      }
    }

    // How long to sleep in poll.
    // Without a pidfd the child's exit is only seen by checking, so check often.
    const auto wait = (!leader_reaped && pidfd.get() < 0) ? kPollSliceNoPidfd : kPollSlice;
    auto until = now + wait;
    if (!leader_reaped && kill_stage == KillStage::kNone) until = std::min(until, deadline);
    if (kill_stage == KillStage::kTerm) until = std::min(until, term_at + options.kill_grace);
    if (leader_reaped) until = std::min(until, drain_deadline);
    const auto timeout_ms =
        std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(until - now).count());

    pollfd fds[3];
    int nfds = 0;
    int out_idx = -1, err_idx = -1, pid_idx = -1;
    if (out_r.get() >= 0) {
      out_idx = nfds;
      fds[nfds++] = {out_r.get(), POLLIN, 0};
    }
    if (err_r.get() >= 0) {
      err_idx = nfds;
      fds[nfds++] = {err_r.get(), POLLIN, 0};
    }
    if (!leader_reaped && pidfd.get() >= 0) {
      pid_idx = nfds;
      fds[nfds++] = {pidfd.get(), POLLIN, 0};
    }
    const int ready = ::poll(fds, static_cast<nfds_t>(nfds), static_cast<int>(timeout_ms));
    if (ready < 0) {
      if (errno == EINTR) continue;
      // Should not happen; avoid a busy loop.
      ::usleep(10000);
      continue;
    }
    (void)pid_idx;  // a readable pidfd just ends the poll; waitid above does the rest

    auto drain = [&](int idx, Fd& fd, bool is_stdout) {
      if (idx < 0 || (fds[idx].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) == 0) return;
      const ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) return;
        fd.Reset();
        return;
      }
      if (got == 0) {
        fd.Reset();
        return;
      }
      const std::string_view data(buffer.data(), static_cast<std::size_t>(got));
      if (is_stdout) {
        if (overflow) return;  // keep draining so the child is not blocked, drop the data
        if (result.stdout_data.size() + data.size() > options.max_stdout_bytes) {
          overflow = true;
          return;
        }
        result.stdout_data.append(data);
      } else {
        AppendTail(result.stderr_tail, data, options.stderr_tail_bytes, result.stderr_truncated);
      }
    };
    drain(out_idx, out_r, true);
    drain(err_idx, err_r, false);
  }

  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  if (result.stderr_tail.size() > options.stderr_tail_bytes) {
    result.stderr_tail.erase(0, result.stderr_tail.size() - options.stderr_tail_bytes);
    result.stderr_truncated = true;
  }
  if (WIFEXITED(wait_status)) {
    result.exit_code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    result.term_signal = WTERMSIG(wait_status);
  }
  if (overflow) {
    return Error::Permanent("output_too_large", fmt::format("{}: output exceeded {} bytes", program,
                                                            options.max_stdout_bytes));
  }
  return result;
}

std::string CleanText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b) {
      // ANSI escape: ESC '[' params final-byte, or ESC + one char.
      ++i;
      if (i < text.size() && text[i] == '[') {
        ++i;
        while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7e)) ++i;
      }
      if (i < text.size()) ++i;
      continue;
    }
    if (c < 0x80) {
      if (c == '\r') {
        out.push_back('\n');
      } else if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f)) {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Multi-byte UTF-8: validate the sequence (no overlongs, no surrogates, <= U+10FFFF).
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    }
    bool valid = len > 0 && i + len <= text.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      const unsigned min = k == 1 ? lo : 0x80;
      const unsigned max = k == 1 ? hi : 0xbf;
      if (b < min || b > max) valid = false;
    }
    if (valid) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  // Trim whitespace and collapse runs of blank lines.
  std::string collapsed;
  collapsed.reserve(out.size());
  int newlines = 0;
  for (char ch : out) {
    if (ch == '\n') {
      if (++newlines > 1) continue;
    } else {
      newlines = 0;
    }
    collapsed.push_back(ch);
  }
  const auto first = collapsed.find_first_not_of(" \t\n");
  if (first == std::string::npos) return {};
  const auto last = collapsed.find_last_not_of(" \t\n");
  return collapsed.substr(first, last - first + 1);
}

std::string DescribeFailure(const ProcessResult& result, std::string_view program) {
  const double seconds = static_cast<double>(result.duration.count()) / 1000.0;
  std::string what;
  if (result.timed_out) {
    what = fmt::format("{} timed out after {:.1f} s", program, seconds);
  } else if (result.canceled) {
    what = fmt::format("{} was stopped after {:.1f} s (service shutting down)", program, seconds);
  } else if (result.term_signal != 0) {
    what = fmt::format("{} was killed by signal {} ({})", program, result.term_signal,
                       SignalName(result.term_signal));
  } else if (result.exit_code != 0) {
    what = fmt::format("{} exited with code {}", program, result.exit_code);
  } else {
    what = fmt::format("{} succeeded", program);
  }
  std::string tail = result.stderr_tail;
  if (result.stderr_truncated) {
    // Start at a line boundary when one is near, and say that the start is cut.
    const auto nl = tail.find('\n');
    if (nl != std::string::npos && nl < tail.size() / 2) tail.erase(0, nl + 1);
  }
  tail = CleanText(tail);
  if (tail.empty()) return what;
  return what + ": " + (result.stderr_truncated ? "..." : "") + tail;
}

}  // namespace chansum::media
