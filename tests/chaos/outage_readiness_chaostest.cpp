// Outages with every service running (ctest label `chaos`, SERIAL): a stack of the test's own
// (own run directory, ports shifted by OUTAGE_PORT_SHIFT, default 500; the shared stack is never
// touched), the orchestrator, the five stages (instant handlers), analytics and event_logger. Each
// of PostgreSQL, RabbitMQ, Kafka and the Mongo-wire server is stopped in turn; for each outage:
//   - every service that needs the stopped server reports GET /readyz not ready (503), the others
//     stay ready, and every service still answers GET /healthz 200 (alive, not crash-looping);
//   - a job submitted just before the outage, and one submitted during it (refused with 503 while
//     PostgreSQL is down), complete with every video done once the server is back;
//   - after the server is started again every service reports ready again;
// and no service exits by itself during the whole test. OUTAGE_SERVERS (comma-separated) runs a
// subset.
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/instant/instant.hpp"
#include "chansum/protocol/command.hpp"
#include "chaos_run.hpp"
#include "own_stack.hpp"

namespace chansum::chaos {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::vector<std::string> kServices = {"orchestrator",     "discovery",     "download",
                                            "audio_extraction", "transcription", "summarization",
                                            "analytics",        "event_logger"};

struct Outage {
  std::string server;               // deploy/local/stack server name
  std::set<std::string> needed_by;  // services whose readiness must turn false
};

// What each service needs (docs/operations.md "Health and readiness"): the stages check
// PostgreSQL and RabbitMQ (transcription and summarization also the document store), the
// orchestrator PostgreSQL, RabbitMQ and the document store, analytics PostgreSQL and Kafka,
// event_logger RabbitMQ (and its audit log directory).
const std::vector<Outage> kOutages = {
    {"postgres",
     {"orchestrator", "discovery", "download", "audio_extraction", "transcription", "summarization",
      "analytics"}},
    {"rabbitmq",
     {"orchestrator", "discovery", "download", "audio_extraction", "transcription", "summarization",
      "event_logger"}},
    {"kafka", {"analytics"}},
    {"mongo", {"orchestrator", "transcription", "summarization"}},
};

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::max(1, std::atoi(v));
}

class OutageTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (services_.children.empty()) return;
    services_.Stop();
    if (HasFailure()) {
      std::cerr << "service logs kept in " << services_.dir << "\n";
    } else {
      std::error_code ec;
      std::filesystem::remove_all(services_.dir, ec);
    }
  }

  // GET <path> of a service: its HTTP status, 0 when it did not answer.
  int Status(const std::string& service, const char* path) {
    httplib::Client client("127.0.0.1", services_.ports.at(service));
    client.set_connection_timeout(2);
    client.set_read_timeout(10);
    auto r = client.Get(path);
    return r ? r->status : 0;
  }

  // Polls (supervising the services) until `done` or `timeout`.
  bool PollUntil(ChaosRun& run, const std::function<bool()>& done, seconds timeout) {
    const auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      if (done()) return true;
      run.Pump(milliseconds(250));
    }
    return done();
  }

  // The job's state and video counts; empty state when the API did not answer.
  json Job(const std::string& job_id) {
    auto api = services_.Api();
    auto r = api.Get("/jobs/" + job_id);
    if (!r || r->status != 200) return json::object();
    return json::parse(r->body, nullptr, false);
  }

  OwnStack stack_;  // destroyed after the services are stopped
  e2e::ServiceSet services_;
};

TEST_F(OutageTest, ReadinessFollowsEachServerAndJobsAroundTheOutageComplete) {
  std::string error;
  ASSERT_TRUE(stack_.Up(EnvInt("OUTAGE_PORT_SHIFT", 500), &error)) << error;
  const std::string instant = std::string(CHANSUM_BIN_DIR) + "/chansum_instant_stage";
  for (auto stage : protocol::kAllStages) {
    const std::string s(protocol::StageName(stage));
    services_.commands[s] = {instant, s};
  }
  // A retry budget that outlasts the outages (as in the chaos suite).
  services_.extra_env = {{"RETRY_BASE_DELAY", "200ms"},
                         {"RETRY_MAX_DELAY", "3s"},
                         {"MAX_ATTEMPTS", "12"},
                         {"INSTANT_MAX_DELAY", "50ms"}};
  ASSERT_TRUE(services_.Start(std::vector<std::string>(kServices.begin() + 1, kServices.end())));

  ChaosRun run(services_);
  const int videos = 6;
  const std::string channel = instant::InstantChannelUrl(videos);
  const json request = {{"channel", channel}, {"max_videos", videos}};

  const char* only = std::getenv("OUTAGE_SERVERS");  // e.g. "kafka,mongo"; default: all four
  for (const auto& outage : kOutages) {
    if (only != nullptr && *only != '\0' &&
        ("," + std::string(only) + ",").find("," + outage.server + ",") == std::string::npos) {
      continue;
    }
    SCOPED_TRACE("outage of " + outage.server);
    std::cerr << "[outage] " << outage.server << "\n";
    std::vector<std::string> jobs = {run.Submit(channel, videos)};  // just before the outage
    run.Pump(milliseconds(300));
    const auto stopped_at = Clock::now();
    std::string out;
    ASSERT_TRUE(stack_.StopServer(outage.server, &out)) << out;

    // Every service that needs the server turns not ready.
    std::set<std::string> still_ready;
    const bool all_down = PollUntil(
        run,
        [&] {
          still_ready.clear();
          for (const auto& s : outage.needed_by) {
            if (Status(s, "/readyz") == 200) still_ready.insert(s);
          }
          return still_ready.empty();
        },
        seconds(60));
    std::string names;
    for (const auto& s : still_ready) names += " " + s;
    EXPECT_TRUE(all_down) << "still ready 60 s into the " << outage.server << " outage:" << names;
    std::cerr << "[outage] " << outage.server << ": every service needing it not ready after "
              << std::chrono::duration_cast<milliseconds>(Clock::now() - stopped_at).count()
              << " ms\n";
    // Meanwhile: everyone alive, the services that do not need the server ready. A consumer of
    // the server restarted just before (analytics after the Kafka outage: its group rebalances)
    // may still be settling, so readiness gets a few seconds; a service that needed this server
    // would stay not ready for the whole outage.
    for (const auto& s : kServices) {
      EXPECT_EQ(Status(s, "/healthz"), 200) << s << " /healthz during the outage";
      if (outage.needed_by.count(s) == 0) {
        const bool ready = PollUntil(
            run, [&] { return Status(s, "/readyz") == 200; }, seconds(15));
        EXPECT_TRUE(ready) << s << " does not need " << outage.server;
      }
    }
    // A job submitted during the outage: accepted, except without PostgreSQL (503, retry later).
    {
      auto api = services_.Api();
      auto r = api.Post("/jobs", request.dump(), "application/json");
      ASSERT_TRUE(r) << "the API did not answer during the outage";
      if (outage.server == "postgres") {
        EXPECT_EQ(r->status, 503) << r->body;
      } else {
        EXPECT_EQ(r->status, 202) << r->body;
        if (r->status == 202) jobs.push_back(json::parse(r->body).at("job_id"));
      }
    }
    run.Pump(seconds(2));  // an outage of a few seconds at least, with work waiting
    ASSERT_TRUE(stack_.StartAll(&out)) << out;

    // Ready again, and the jobs complete.
    std::set<std::string> not_ready;
    const bool all_up = PollUntil(
        run,
        [&] {
          not_ready.clear();
          for (const auto& s : kServices) {
            if (Status(s, "/readyz") != 200) not_ready.insert(s);
          }
          return not_ready.empty();
        },
        seconds(90));
    names.clear();
    for (const auto& s : not_ready) names += " " + s;
    EXPECT_TRUE(all_up) << "not ready 90 s after " << outage.server << " came back:" << names;
    for (const auto& job_id : jobs) {
      json job;
      const bool ended = PollUntil(
          run,
          [&] {
            job = Job(job_id);
            const auto state = job.value("state", std::string());
            return !state.empty() && state != "queued" && state != "running";
          },
          seconds(120));
      EXPECT_TRUE(ended) << "job " << job_id << " not finished: " << job.dump();
      EXPECT_EQ(job.value("state", std::string()), "completed") << job.dump();
      EXPECT_EQ(job.value("video_count", -1), videos) << job.dump();
      int done = 0;
      for (const auto& v : job.value("videos", json::array())) {
        if (v.value("state", std::string()) == "done") ++done;
      }
      EXPECT_EQ(done, videos) << job.dump();
    }
  }
  EXPECT_EQ(run.crashes(), 0) << "services exited by themselves (restarted)\n" << services_.Logs();
}

}  // namespace
}  // namespace chansum::chaos
