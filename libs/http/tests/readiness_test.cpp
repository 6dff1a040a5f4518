#include "chansum/http/readiness.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "chansum/http/json_api.hpp"

namespace chansum::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Polls `done` every 5 ms for up to `timeout`.
template <class F>
bool Within(std::chrono::milliseconds timeout, F done) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// A dependency whose answer and speed the test sets: `hang` makes the next checks block (as a
// ping to a server that never answers does) until it is cleared.
struct FakeDependency {
  std::atomic<bool> up{true};
  std::atomic<bool> hang{false};
  std::atomic<bool> throw_next{false};
  std::atomic<int> calls{0};
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};

  Status Check() {
    ++calls;
    const int now = ++running;
    if (now > max_running) max_running = now;
    while (hang.load()) std::this_thread::sleep_for(5ms);
    --running;
    if (throw_next.exchange(false)) throw std::runtime_error("driver blew up");
    if (!up.load()) return Error::Transient("unavailable", "connection refused");
    return OkStatus();
  }
};

constexpr DependencyCheckOptions kFast{50ms, 200ms};

TEST(DependencyCheck, NotReadyUntilTheFirstAnswerThenItsResult) {
  FakeDependency dep;
  dep.hang = true;
  DependencyCheck check(
      "fake", [&] { return dep.Check(); }, kFast);
  ASSERT_FALSE(check.Last().ok());
  EXPECT_EQ(check.Last().error().message, "not checked yet");
  dep.hang = false;
  EXPECT_TRUE(Within(1s, [&] { return check.Last().ok(); }));
  EXPECT_EQ(check.name(), "fake");
}

TEST(DependencyCheck, AFailureIsReportedWithItsReasonAndClearsOnceItAnswersAgain) {
  FakeDependency dep;
  DependencyCheck check(
      "fake", [&] { return dep.Check(); }, kFast);
  ASSERT_TRUE(Within(1s, [&] { return check.Last().ok(); }));
  dep.up = false;
  ASSERT_TRUE(Within(1s, [&] { return !check.Last().ok(); }));
  EXPECT_EQ(check.Last().error().message, "connection refused");
  dep.up = true;
  const auto back = Clock::now();
  ASSERT_TRUE(Within(1s, [&] { return check.Last().ok(); }));
  EXPECT_LT(Clock::now() - back, 500ms);  // within about one interval (50 ms)
}

TEST(DependencyCheck, ACheckThatHangsCountsAsFailedAfterTheDeadline) {
  FakeDependency dep;
  DependencyCheck check(
      "fake", [&] { return dep.Check(); }, kFast);
  ASSERT_TRUE(Within(1s, [&] { return check.Last().ok(); }));
  dep.hang = true;
  const auto hung = Clock::now();
  // Last() itself never waits for the dependency.
  ASSERT_TRUE(Within(2s, [&] {
    const auto t = Clock::now();
    const bool failed = !check.Last().ok();
    EXPECT_LT(Clock::now() - t, 50ms);
    return failed;
  }));
  const auto failed_after = Clock::now() - hung;
  EXPECT_GE(failed_after, 200ms);  // the deadline
  EXPECT_LT(failed_after, 1s);     // about interval + deadline
  EXPECT_EQ(check.Last().error().code, "timeout");
  EXPECT_EQ(check.Last().error().message, "no answer within 200 ms");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(dep.max_running.load(), 1) << "one check at a time";
  dep.hang = false;
  EXPECT_TRUE(Within(1s, [&] { return check.Last().ok(); }));

  // Refused, then hanging: the timeout still tells the last reason.
  dep.up = false;
  ASSERT_TRUE(Within(1s, [&] { return !check.Last().ok(); }));
  dep.hang = true;
  ASSERT_TRUE(Within(2s, [&] { return check.Last().error().code == "timeout"; }));
  EXPECT_EQ(check.Last().error().message, "no answer within 200 ms (before: connection refused)");
  dep.hang = false;
}

TEST(DependencyCheck, AnExceptionIsAFailure) {
  FakeDependency dep;
  dep.throw_next = true;
  DependencyCheck check(
      "fake", [&] { return dep.Check(); }, DependencyCheckOptions{10s, 10s});
  ASSERT_TRUE(Within(1s, [&] { return dep.calls.load() == 1 && dep.running.load() == 0; }));
  ASSERT_TRUE(
      Within(1s, [&] { return !check.Last().ok() && check.Last().error().code != "not_checked"; }));
  EXPECT_EQ(check.Last().error().message, "driver blew up");
}

TEST(DependencyCheck, StopsWithoutWaitingForTheInterval) {
  FakeDependency dep;
  auto check = std::make_unique<DependencyCheck>(
      "fake", [&] { return dep.Check(); }, DependencyCheckOptions{60s, 1s});
  ASSERT_TRUE(Within(1s, [&] { return check->Last().ok(); }));
  const auto t = Clock::now();
  check.reset();
  EXPECT_LT(Clock::now() - t, 1s);
  EXPECT_EQ(dep.calls.load(), 1);
}

TEST(ReadinessBody, ListsEveryCheckAndWhyTheFailingOnesFail) {
  json all_ok = ReadinessBody({{"postgres", OkStatus()}, {"rabbitmq", FlagCheck(true, "x")}});
  EXPECT_EQ(all_ok, json::parse(R"({"ready": true,
                                    "checks": {"postgres": true, "rabbitmq": true}})"));
  json failing = ReadinessBody({{"postgres", OkStatus()},
                                {"docstore", Error::Transient("unavailable", "ping: no server")},
                                {"rabbitmq", FlagCheck(false, "consumer not connected")}});
  EXPECT_EQ(failing, json::parse(R"({"ready": false,
                                     "checks": {"postgres": true, "docstore": false,
                                                "rabbitmq": false},
                                     "errors": {"docstore": "ping: no server",
                                                "rabbitmq": "consumer not connected"}})"));
}

// GET /readyz over HTTP answers 503 at once while the dependency's check hangs, and 200 again
// soon after it answers.
TEST(DependencyCheck, ReadyzAnswersAtOnceWhileTheCheckHangs) {
  FakeDependency dep;
  DependencyCheck check(
      "fake", [&] { return dep.Check(); }, kFast);
  http::Server server;
  ConfigureJsonServer(server, ServerOptions{1024, false});
  AddHealthRoutes(server, [&] { return ReadinessBody({{"fake", check.Last()}}); });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  ASSERT_TRUE(Within(5s, [&] { return server.is_running(); }));
  httplib::Client client("127.0.0.1", port);
  ASSERT_TRUE(Within(1s, [&] {
    auto r = client.Get("/readyz");
    return r && r->status == 200;
  }));
  dep.hang = true;
  const auto hung = Clock::now();
  ASSERT_TRUE(Within(2s, [&] {
    auto r = client.Get("/readyz");
    return r && r->status == 503;
  }));
  EXPECT_LT(Clock::now() - hung, 1s);
  const auto t = Clock::now();
  auto r = client.Get("/readyz");
  EXPECT_LT(Clock::now() - t, 200ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  json body = json::parse(r->body);
  EXPECT_EQ(body["checks"]["fake"], false);
  EXPECT_EQ(body["errors"]["fake"], "no answer within 200 ms");
  dep.hang = false;
  EXPECT_TRUE(Within(1s, [&] {
    auto ok = client.Get("/readyz");
    return ok && ok->status == 200;
  }));
  server.stop();
  thread.join();
}

}  // namespace
}  // namespace chansum::http
