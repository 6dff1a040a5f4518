#include "chansum/service/service.hpp"

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace chansum::service {
namespace {

using std::chrono::milliseconds;

// Records its calls in a shared journal.
class Recorder : public Component {
 public:
  Recorder(std::string name, std::vector<std::string>& journal)
      : name_(std::move(name)), j_(journal) {}
  const std::string& Name() const override { return name_; }
  Status Start() override {
    j_.push_back("start " + name_);
    if (fail_start) return Error::Permanent("broken", name_ + " cannot start");
    return OkStatus();
  }
  bool Stop(Clock::time_point deadline) override {
    j_.push_back("stop " + name_);
    deadlines.push_back(deadline);
    if (stop_takes.count() > 0) std::this_thread::sleep_for(stop_takes);
    return !abandon;
  }
  std::vector<std::pair<std::string, Status>> Checks() const override { return checks; }

  bool fail_start = false;
  bool abandon = false;
  milliseconds stop_takes{0};
  std::vector<Clock::time_point> deadlines;
  std::vector<std::pair<std::string, Status>> checks;

 private:
  std::string name_;
  std::vector<std::string>& j_;
};

TEST(ServiceOptionsTest, ShutdownBoundComesFromTheOneSetting) {
  ConfigReader defaults(std::map<std::string, std::string>{});
  EXPECT_EQ(ServiceOptions::FromEnv(defaults).shutdown_timeout, std::chrono::seconds(30));
  EXPECT_TRUE(defaults.problems().empty());
  ConfigReader set(std::map<std::string, std::string>{{"SHUTDOWN_TIMEOUT_SECONDS", "7"}});
  EXPECT_EQ(ServiceOptions::FromEnv(set).shutdown_timeout, std::chrono::seconds(7));
  ConfigReader bad(std::map<std::string, std::string>{{"SHUTDOWN_TIMEOUT_SECONDS", "0"}});
  (void)ServiceOptions::FromEnv(bad);
  ASSERT_EQ(bad.problems().size(), 1u);
  EXPECT_NE(bad.problems()[0].find("SHUTDOWN_TIMEOUT_SECONDS"), std::string::npos);
}

TEST(ServiceOptionsTest, ConfigFailedOnlyWhenAProblemWasRecorded) {
  ConfigReader good(std::map<std::string, std::string>{});
  EXPECT_FALSE(ConfigFailed(good));
  ConfigReader bad(std::map<std::string, std::string>{});
  (void)bad.RequireString("NEEDED", "a required setting");
  EXPECT_TRUE(ConfigFailed(bad));
}

TEST(ServiceTest, StartsInOrderAndStopsInReverse) {
  std::vector<std::string> journal;
  Service svc("test");
  svc.Add(std::make_unique<Recorder>("a", journal));
  svc.Add(std::make_unique<Recorder>("b", journal));
  svc.Add(std::make_unique<Recorder>("c", journal));
  ASSERT_TRUE(svc.Start().ok());
  EXPECT_TRUE(svc.Stop());
  EXPECT_EQ(journal, (std::vector<std::string>{"start a", "start b", "start c", "stop c", "stop b",
                                               "stop a"}));
  EXPECT_TRUE(svc.Stop());  // nothing left to stop
  EXPECT_EQ(journal.size(), 6U);
}

TEST(ServiceTest, AFailingStartStopsWhatAlreadyStarted) {
  std::vector<std::string> journal;
  Service svc("test");
  svc.Add(std::make_unique<Recorder>("a", journal));
  svc.Add(std::make_unique<Recorder>("b", journal));
  svc.Add(std::make_unique<Recorder>("c", journal)).fail_start = true;
  svc.Add(std::make_unique<Recorder>("d", journal));
  const Status st = svc.Start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "c cannot start");
  EXPECT_EQ(journal,
            (std::vector<std::string>{"start a", "start b", "start c", "stop b", "stop a"}));
}

TEST(ServiceTest, AllComponentsShareOneShutdownBound) {
  std::vector<std::string> journal;
  Service svc("test", ServiceOptions{std::chrono::seconds(7)});
  auto& a = svc.Add(std::make_unique<Recorder>("a", journal));
  auto& b = svc.Add(std::make_unique<Recorder>("b", journal));
  b.stop_takes = milliseconds(30);
  ASSERT_TRUE(svc.Start().ok());
  const auto before = Clock::now();
  EXPECT_TRUE(svc.Stop());
  ASSERT_EQ(a.deadlines.size(), 1U);
  ASSERT_EQ(b.deadlines.size(), 1U);
  EXPECT_EQ(a.deadlines[0], b.deadlines[0]);  // not a fresh bound per component
  EXPECT_GE(a.deadlines[0], before + std::chrono::seconds(7) - milliseconds(1));
  EXPECT_LE(a.deadlines[0], before + std::chrono::seconds(7) + milliseconds(100));
}

TEST(ServiceTest, PassingTheBoundOrAbandoningWorkIsNotClean) {
  std::vector<std::string> journal;
  {
    Service svc("slow", ServiceOptions{std::chrono::seconds(0)});
    svc.Add(std::make_unique<Recorder>("a", journal)).stop_takes = milliseconds(20);
    ASSERT_TRUE(svc.Start().ok());
    EXPECT_FALSE(svc.Stop());
    EXPECT_FALSE(svc.stopped_cleanly());
  }
  {
    Service svc("abandoning");
    svc.Add(std::make_unique<Recorder>("a", journal));
    svc.Add(std::make_unique<Recorder>("b", journal)).abandon = true;
    ASSERT_TRUE(svc.Start().ok());
    EXPECT_FALSE(svc.Stop());
  }
  // The component that abandoned work does not keep the ones before it from stopping.
  EXPECT_EQ(journal.back(), "stop a");
}

TEST(ServiceTest, ReadinessIsEveryComponentsChecks) {
  std::vector<std::string> journal;
  Service svc("test");
  auto& a = svc.Add(std::make_unique<Recorder>("a", journal));
  svc.Add(std::make_unique<Recorder>("no checks", journal));
  auto& b = svc.Add(std::make_unique<Recorder>("b", journal));
  a.checks = {{"postgres", OkStatus()}};
  b.checks = {{"rabbitmq", OkStatus()}, {"docstore", OkStatus()}};
  auto body = svc.Readiness();
  EXPECT_TRUE(body["ready"].get<bool>());
  EXPECT_EQ(body["checks"].size(), 3U);
  b.checks[1].second = Error::Transient("timeout", "ping timed out");
  body = svc.Readiness();
  EXPECT_FALSE(body["ready"].get<bool>());
  EXPECT_TRUE(body["checks"]["postgres"].get<bool>());
  EXPECT_FALSE(body["checks"]["docstore"].get<bool>());
}

TEST(ServiceTest, DestructorStopsWhatIsRunning) {
  std::vector<std::string> journal;
  {
    Service svc("test");
    svc.Add(std::make_unique<Recorder>("a", journal));
    ASSERT_TRUE(svc.Start().ok());
  }
  EXPECT_EQ(journal.back(), "stop a");
}

}  // namespace
}  // namespace chansum::service
