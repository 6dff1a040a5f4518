#include "chansum/media/process.hpp"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace chansum::media {
namespace {

using namespace std::chrono_literals;

ProcessResult MustRun(const std::vector<std::string>& argv, const ProcessOptions& opts = {}) {
  auto r = RunProcess(argv, opts);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().ToString());
  if (!r.ok()) return {};
  return std::move(r).value();
}

int CountOpenFds() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

bool ProcessAlive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  // A zombie still answers kill(0); it is not running anymore.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = content.rfind(')');
  return close == std::string::npos || content.size() < close + 3 || content[close + 2] != 'Z';
}

TEST(RunProcess, CapturesStdoutAndExitCode) {
  auto r = MustRun({"sh", "-c", "printf 'hello\\nworld'; exit 3"});
  EXPECT_EQ(r.stdout_data, "hello\nworld");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.Succeeded());

  auto ok = MustRun({"true"});
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_TRUE(ok.Succeeded());
}

TEST(RunProcess, ArgumentsArePassedLiterallyWithoutAShell) {
  const std::string tricky = "$(id);rm -rf x `whoami` | cat > /tmp/nope & 'q' \"dq\" *";
  auto r = MustRun({"printf", "%s", tricky});
  EXPECT_EQ(r.stdout_data, tricky);
  auto args = MustRun({"printf", "[%s]", "a b", "", "-x", "--exec=touch /tmp/x"});
  EXPECT_EQ(args.stdout_data, "[a b][][-x][--exec=touch /tmp/x]");
}

TEST(RunProcess, StdinIsDevNull) {
  auto r = MustRun({"cat"}, {});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data, "");
}

TEST(RunProcess, LargeStdoutIsCapturedCompletely) {
  auto r = MustRun({"head", "-c", "3000000", "/dev/zero"});
  EXPECT_EQ(r.stdout_data.size(), 3000000u);
  EXPECT_TRUE(r.Succeeded());
}

TEST(RunProcess, StdoutOverTheBoundIsAPermanentError) {
  ProcessOptions opts;
  opts.max_stdout_bytes = 1000;
  const auto start = std::chrono::steady_clock::now();
  auto r = RunProcess({"cat", "/dev/zero"}, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "output_too_large");
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(RunProcess, KeepsOnlyTheStderrTail) {
  ProcessOptions opts;
  opts.stderr_tail_bytes = 100;
  // 20000 bytes of 'a' then a final marker line on stderr.
  auto r =
      MustRun({"sh", "-c", "head -c 20000 /dev/zero | tr '\\0' a >&2; echo LAST-LINE >&2"}, opts);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stderr_tail.size(), 100u);
  EXPECT_TRUE(r.stderr_truncated);
  EXPECT_EQ(r.stderr_tail.substr(r.stderr_tail.size() - 10), "LAST-LINE\n");
  EXPECT_EQ(r.stdout_data, "");

  auto small = MustRun({"sh", "-c", "echo oops >&2; exit 1"});
  EXPECT_EQ(small.stderr_tail, "oops\n");
  EXPECT_FALSE(small.stderr_truncated);
}

TEST(RunProcess, ProgramNotFoundIsPermanent) {
  auto r = RunProcess({"chansum-no-such-program-xyz", "--version"}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
  EXPECT_EQ(r.error().code, "program_not_found");
  EXPECT_EQ(r.error().message, "chansum-no-such-program-xyz: not found");

  auto abs = RunProcess({"/nonexistent/dir/yt-dlp"}, {});
  ASSERT_FALSE(abs.ok());
  EXPECT_EQ(abs.error().message, "/nonexistent/dir/yt-dlp: not found");

  auto empty = RunProcess({}, {});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "invalid_argument");
}

TEST(RunProcess, TimeoutKillsTheWholeProcessGroup) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("chansum-proc-" + std::to_string(::getpid()) + "-timeout");
  std::filesystem::create_directories(dir);
  const auto pid_file = dir / "grandchild.pid";
  ProcessOptions opts;
  opts.timeout = 300ms;
  opts.kill_grace = 200ms;
  const auto start = std::chrono::steady_clock::now();
  // The shell starts a background grandchild, records its pid, then waits in the foreground.
  auto r =
      MustRun({"sh", "-c", "sleep 30 & echo $! > '" + pid_file.string() + "'; sleep 30"}, opts);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.Succeeded());
  EXPECT_EQ(r.term_signal, SIGTERM);
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 5s);
  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  // The grandchild was reparented and is reaped by init; give that a moment.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !ProcessAlive(grandchild);
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(gone) << "grandchild " << grandchild << " survived the timeout";
  EXPECT_NE(DescribeFailure(r, "sh").find("sh timed out after"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(RunProcess, ChildIgnoringSigtermIsKilledAfterGrace) {
  ProcessOptions opts;
  opts.timeout = 200ms;
  opts.kill_grace = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = MustRun({"sh", "-c", "trap '' TERM; sleep 30 & wait; sleep 30"}, opts);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_GE(elapsed, 500ms);
  EXPECT_LT(elapsed, 5s);
}

TEST(RunProcess, LeftoverBackgroundProcessesAreKilledWhenTheChildExits) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("chansum-proc-" + std::to_string(::getpid()) + "-leftover");
  std::filesystem::create_directories(dir);
  const auto pid_file = dir / "bg.pid";
  const auto start = std::chrono::steady_clock::now();
  // The background sleep keeps stdout open; the runner must not wait 30 s for it.
  auto r = MustRun({"sh", "-c", "sleep 30 & echo $! > '" + pid_file.string() + "'; echo done"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data, "done\n");
  pid_t bg = 0;
  std::ifstream(pid_file) >> bg;
  ASSERT_GT(bg, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !ProcessAlive(bg);
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(gone);
  std::filesystem::remove_all(dir);
}

TEST(RunProcess, StopPredicateCancelsTheChild) {
  std::atomic<bool> stop{false};
  ProcessOptions opts;
  opts.kill_grace = 200ms;
  opts.should_stop = [&] { return stop.load(); };
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = MustRun({"sleep", "30"}, opts);
  stopper.join();
  EXPECT_TRUE(r.canceled);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.Succeeded());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_NE(DescribeFailure(r, "sleep").find("service shutting down"), std::string::npos);
}

TEST(RunProcess, WorkingDirectoryAndEnvironment) {
  ProcessOptions opts;
  opts.working_dir = "/tmp";
  opts.env = {{"CHANSUM_TEST_VAR", "first"}, {"CHANSUM_TEST_VAR", "value with $(spaces)"}};
  auto r = MustRun({"sh", "-c", "pwd; printf '%s' \"$CHANSUM_TEST_VAR\"; test -n \"$PATH\""}, opts);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data, "/tmp\nvalue with $(spaces)");

  ProcessOptions bad;
  bad.working_dir = "/nonexistent-chansum-dir";
  auto e = RunProcess({"true"}, bad);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, "exec_failed");
  EXPECT_NE(e.error().message.find("cannot change directory"), std::string::npos);
}

TEST(RunProcess, ReportsKillSignal) {
  auto r = MustRun({"sh", "-c", "kill -9 $$"});
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(DescribeFailure(r, "sh"), "sh was killed by signal 9 (SIGKILL)");
}

TEST(RunProcess, DoesNotLeakDescriptorsIntoOrOutOfChildren) {
  const int before = CountOpenFds();
  for (int i = 0; i < 20; ++i) (void)MustRun({"true"});
  (void)RunProcess({"chansum-no-such-program-xyz"}, {});
  EXPECT_EQ(CountOpenFds(), before);
  // The child sees only 0, 1, 2 (ls itself opens one more to read the directory).
  auto r = MustRun({"ls", "/proc/self/fd"});
  std::vector<std::string> fds;
  std::string line;
  std::istringstream in(r.stdout_data);
  while (std::getline(in, line)) fds.push_back(line);
  EXPECT_LE(fds.size(), 4u) << r.stdout_data;
}

TEST(RunProcess, ConcurrentRunsFromSeveralThreads) {
  constexpr int kThreads = 6;
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &good] {
      for (int i = 0; i < 10; ++i) {
        const std::string word = "t" + std::to_string(t) + "i" + std::to_string(i);
        auto r = RunProcess({"printf", "%s", word}, {});
        if (r.ok() && r->stdout_data == word && r->Succeeded()) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), kThreads * 10);
}

TEST(DescribeFailure, ExitCodeAndTrimmedCleanTail) {
  ProcessResult r;
  r.exit_code = 1;
  r.stderr_tail = "\n  \x1b[0;31mERROR:\x1b[0m bad \xff thing\r\n\n\n";
  EXPECT_EQ(DescribeFailure(r, "yt-dlp"), "yt-dlp exited with code 1: ERROR: bad ? thing");
  ProcessResult quiet;
  quiet.exit_code = 4;
  EXPECT_EQ(DescribeFailure(quiet, "ffmpeg"), "ffmpeg exited with code 4");
  ProcessResult cut;
  cut.exit_code = 1;
  cut.stderr_truncated = true;
  cut.stderr_tail = "ial line\nwhole line one\nwhole line two\n";
  EXPECT_EQ(DescribeFailure(cut, "x"), "x exited with code 1: ...whole line one\nwhole line two");
}

TEST(CleanText, KeepsValidUtf8AndDropsControls) {
  EXPECT_EQ(CleanText("caf\xc3\xa9 \xe2\x80\x94 ok\x07"), "caf\xc3\xa9 \xe2\x80\x94 ok");
  EXPECT_EQ(CleanText("\xc3"), "?");
  EXPECT_EQ(CleanText("\xed\xa0\x80"), "???");  // a UTF-16 surrogate is not valid UTF-8
  EXPECT_EQ(CleanText("  \t "), "");
}

}  // namespace
}  // namespace chansum::media
