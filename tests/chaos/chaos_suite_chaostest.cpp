// The chaos suite (ctest label `chaos`). Each test brings up a stack of its own (own run
// directory, shifted ports; the shared stack is never touched), starts the orchestrator, the five
// stages, analytics and event_logger, and runs one job per scenario while faults are injected:
// kill -9 of every service at random moments (restarted like a supervisor would), kill -9 of
// each video stage while it holds a batch (short stages hold a whole batch in one open
// transaction, long ones a claimed lease), RabbitMQ
// restarted, PostgreSQL stopped 10 s, Kafka stopped 30 s, the Mongo-wire server stopped 10 s,
// each of these four servers killed with SIGKILL and recovered by `stack up`, duplicate
// deliveries, malformed messages on every queue. After each, the checker (chaos_run.cpp)
// requires every video terminal, none lost or stuck, one transcript and one summary per done
// video, every event on Kafka and in the audit log, analytics equal to PostgreSQL, and each
// stage's handler run once per video unless the scenario's fault may redo that stage's work.
//
// Environment: CHAOS_VIDEOS (videos per job, default 50; make chaos: 200), CHAOS_ROUNDS (kill -9
// rounds over all services, default 2), CHAOS_SCENARIOS (comma-separated subset of scenario keys),
// CHAOS_PORT_SHIFT (default 300; the demo run uses it + 100), CHAOS_REPORT_DIR (default
// <build>/chaos).
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/instant/instant.hpp"
#include "chaos_run.hpp"
#include "own_stack.hpp"

namespace chansum::chaos {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::max(1, std::atoi(v));
}

bool Selected(const std::string& key) {
  const char* v = std::getenv("CHAOS_SCENARIOS");
  if (v == nullptr || *v == '\0') return true;
  std::stringstream list(v);
  for (std::string item; std::getline(list, item, ',');) {
    if (item == key) return true;
  }
  return false;
}

const std::vector<std::string> kServices = {"orchestrator",     "discovery",     "download",
                                            "audio_extraction", "transcription", "summarization",
                                            "analytics",        "event_logger"};

// Settings every run uses: quick retries with a budget that outlasts a 10 s outage, short leases.
std::map<std::string, std::string> ChaosEnv() {
  return {
      {"RETRY_BASE_DELAY", "200ms"},
      {"RETRY_MAX_DELAY", "3s"},
      {"MAX_ATTEMPTS", "12"},
      // The shortest lease and a quick sweeper, so work a killed worker held comes back through
      // the sweeper as well as through the broker's redelivery (both must be absorbed).
      {"LEASE_SECONDS", "5"},
      {"SWEEP_INTERVAL", "1s"},
  };
}

std::mt19937& Rng() {
  static std::mt19937 rng{std::random_device{}()};
  return rng;
}
milliseconds RandomMs(int lo, int hi) {
  return milliseconds(std::uniform_int_distribution<int>(lo, hi)(Rng()));
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "  " + l + "\n";
  return out;
}

// Which stages a scenario's faults may make run a video's handler more than once (RunFigures):
// `rerun` only reported, `retry` again only after a failed run; every other stage exactly once.
struct RunsBound {
  std::set<std::string> rerun;
  std::set<std::string> retry;
};

// Runs one scenario: submit, inject (returns the number of faults), check, record.
void RunScenario(ChaosRun& run, e2e::ServiceSet& services, std::vector<RunFigures>& runs,
                 const std::string& name, const std::string& channel, int max_videos,
                 int expected_videos, int expected_failed,
                 const std::function<bool(const std::string&)>& meant_to_fail,
                 const std::function<int(const std::string& job_id)>& inject, seconds timeout,
                 const RunsBound& bound) {
  RunFigures f;
  f.scenario = name;
  f.rerun_allowed = bound.rerun;
  f.retry_allowed = bound.retry;
  f.expected_videos = expected_videos;
  f.expected_failed = expected_failed;
  const int absorbed_before = run.AbsorbedSoFar();
  const auto submitted = Clock::now();
  f.job_id = run.Submit(channel, max_videos);
  if (f.job_id.empty()) {
    f.problems.push_back("job not submitted");
  } else {
    std::cerr << "[chaos] " << name << ": job " << f.job_id << "\n";
    f.faults = inject(f.job_id);
    run.Check(f, submitted, Clock::now(), meant_to_fail, timeout);
    f.absorbed = run.AbsorbedSoFar() - absorbed_before;
  }
  if (f.failed != f.expected_failed) {
    f.problems.push_back("failed " + std::to_string(f.failed) + ", expected " +
                         std::to_string(f.expected_failed));
  }
  std::cerr << "[chaos] " << f.ToJson().dump() << "\n";
  EXPECT_TRUE(f.Clean()) << name << ":\n" << Join(f.problems) << "logs in " << services.dir;
  runs.push_back(std::move(f));
}

// Waits (supervising) until the job is terminal, e.g. to publish late duplicates after it.
void WaitJobTerminal(ChaosRun& run, e2e::ServiceSet& services, const std::string& job_id) {
  testing::WaitFor(
      [&] {
        run.Pump(milliseconds(0));
        auto api = services.Api();
        auto r = api.Get("/jobs/" + job_id);
        if (!r || r->status != 200) return false;
        const auto state = json::parse(r->body).at("state").get<std::string>();
        return state != "queued" && state != "running";
      },
      seconds(180), milliseconds(300));
}

int Outage(OwnStack& stack, ChaosRun& run, const std::string& server, milliseconds down_for) {
  run.Pump(milliseconds(1500));  // work in flight
  std::string out;
  EXPECT_TRUE(stack.StopServer(server, &out)) << out;
  run.Pump(down_for);
  EXPECT_TRUE(stack.StartAll(&out)) << out;
  return 1;
}

// A server crash: SIGKILL to its main process (stale pid files, postmaster.pid, lock files left
// as they are), down for `down_for`, then recovered by `stack up` like a user would.
int Crash(OwnStack& stack, ChaosRun& run, const std::string& server, milliseconds down_for) {
  run.Pump(milliseconds(1500));  // work in flight
  std::string out;
  EXPECT_TRUE(stack.KillServer(server, &out)) << out;
  run.Pump(down_for);
  EXPECT_TRUE(stack.StartAll(&out)) << "stack up after kill -9 of " << server << ":\n" << out;
  return 1;
}

class Chaos : public ::testing::Test {
 protected:
  void TearDown() override {
    if (services_.children.empty()) return;
    services_.Stop();
    if (HasFailure()) {
      std::cerr << "service logs kept in " << services_.dir << "\n";
    } else {
      std::error_code ec;
      fs::remove_all(services_.dir, ec);
    }
  }
  OwnStack stack_;  // destroyed after the services are stopped
  e2e::ServiceSet services_;
};

TEST_F(Chaos, InstantMediaJobsSurviveEveryFault) {
  const int videos = EnvInt("CHAOS_VIDEOS", 50);
  const int rounds = EnvInt("CHAOS_ROUNDS", 2);
  const int fail_every = 10;  // every 10th video is "unavailable": failed with a reason
  std::string error;
  ASSERT_TRUE(stack_.Up(EnvInt("CHAOS_PORT_SHIFT", 300), &error)) << error;

  const std::string instant = std::string(CHANSUM_BIN_DIR) + "/chansum_instant_stage";
  for (auto stage : protocol::kAllStages) {
    const std::string s(protocol::StageName(stage));
    services_.commands[s] = {instant, s};
  }
  services_.extra_env = ChaosEnv();
  services_.extra_env["INSTANT_MAX_DELAY"] = "150ms";
  // Both paths of the stage runner under every fault: download and transcription run as long
  // stages (claims with leases committed first, one delivery per worker), audio extraction and
  // summarization as short ones (batches of up to BATCH_SIZE claimed, handled and recorded in one
  // transaction, acked with multiple=true after the commit).
  services_.extra_env["download:INSTANT_LEASED"] = "1";
  services_.extra_env["transcription:INSTANT_LEASED"] = "1";
  services_.extra_env["BATCH_SIZE"] = "20";
  ASSERT_TRUE(services_.Start(std::vector<std::string>(kServices.begin() + 1, kServices.end())));

  ChaosRun run(services_);
  std::vector<RunFigures> runs;
  const auto channel = instant::InstantChannelUrl(videos, fail_every);
  const auto meant_to_fail = [fail_every](const std::string& id) {
    const auto dash = id.rfind('-');
    return dash != std::string::npos && std::atoi(id.c_str() + dash + 1) % fail_every == 0;
  };
  // Bigger jobs (make chaos: 200 videos) get more time to finish after their fault.
  const seconds timeout(std::max(240, 240 + (videos - 50) * 2));
  auto scenario = [&](const std::string& key, const std::string& name,
                      const std::function<int(const std::string&)>& inject,
                      const RunsBound& bound = {}) {
    if (!Selected(key)) return;
    RunScenario(run, services_, runs, name, channel, videos, videos, videos / fail_every,
                meant_to_fail, inject, timeout, bound);
  };
  // Kills of services or of PostgreSQL may redo any stage's work (a killed run, a short batch
  // whose transaction died with the handlers' results in it): reported only. The document store
  // gone fails the runs of the stages that write documents (retried); finished work is never
  // redone.
  const RunsBound redo_any{
      {"discovery", "download", "audio_extraction", "transcription", "summarization"}, {}};
  const RunsBound docstore_retries{{}, {"transcription", "summarization"}};

  scenario(
      "kill", "kill -9 of every service x" + std::to_string(rounds),
      [&](const std::string&) {
        int faults = 0;
        for (int r = 0; r < rounds; ++r) {
          auto order = kServices;
          std::shuffle(order.begin(), order.end(), Rng());
          for (const auto& s : order) {
            run.Pump(RandomMs(100, 700));
            run.KillAndRestart(s, RandomMs(0, 400));
            ++faults;
          }
        }
        return faults;
      },
      redo_any);
  scenario("kill_batch", "kill -9 of each video stage while it holds a batch",
           [&](const std::string&) {
             int faults = 0;
             for (const char* s : {"audio_extraction", "summarization", "download", "transcription",
                                   "audio_extraction", "summarization"}) {
               run.Pump(RandomMs(400, 900));
               run.KillAndRestart(s, RandomMs(0, 200));
               ++faults;
             }
             return faults;
           },
           {{"download", "audio_extraction", "transcription", "summarization"}, {}});
  // Each server: a clean stop and a crash (kill -9, then `stack up`). Work in flight around a
  // broker or Kafka fault is recorded once: redeliveries find it done, nothing runs twice.
  scenario("rabbitmq", "RabbitMQ restarted",
           [&](const std::string&) { return Outage(stack_, run, "rabbitmq", milliseconds(0)); });
  scenario("rabbitmq_kill", "RabbitMQ killed (kill -9), stack up",
           [&](const std::string&) { return Crash(stack_, run, "rabbitmq", milliseconds(0)); });
  scenario(
      "postgres", "PostgreSQL stopped 10 s",
      [&](const std::string&) { return Outage(stack_, run, "postgres", seconds(10)); }, redo_any);
  scenario(
      "postgres_kill", "PostgreSQL killed (kill -9), stack up after 3 s",
      [&](const std::string&) { return Crash(stack_, run, "postgres", seconds(3)); }, redo_any);
  scenario("kafka", "Kafka stopped 30 s",
           [&](const std::string&) { return Outage(stack_, run, "kafka", seconds(30)); });
  scenario("kafka_kill", "Kafka killed (kill -9), stack up after 5 s",
           [&](const std::string&) { return Crash(stack_, run, "kafka", seconds(5)); });
  scenario(
      "mongo", "Mongo-wire server stopped 10 s",
      [&](const std::string&) { return Outage(stack_, run, "mongo", seconds(10)); },
      docstore_retries);
  scenario(
      "mongo_kill", "Mongo-wire server (FerretDB) killed (kill -9), stack up after 3 s",
      [&](const std::string&) { return Crash(stack_, run, "mongo", seconds(3)); },
      docstore_retries);
  scenario("duplicates", "duplicate deliveries (in-flight commands; every command and event x3)",
           [&](const std::string& job_id) {
             // Copies of the commands of work in flight (leased elsewhere when they arrive: the
             // handler must not run), then copies of everything sent so far.
             int faults = run.PublishInFlightCopies(job_id, seconds(10));
             for (int i = 0; i < 3; ++i) {
               run.Pump(milliseconds(1200));
               faults += run.PublishDuplicates(job_id, 1);
             }
             WaitJobTerminal(run, services_, job_id);
             faults += run.PublishDuplicates(job_id, 1);  // late copies of everything
             run.Pump(seconds(3));
             return faults;
           });
  scenario("malformed", "malformed messages on every queue", [&](const std::string&) {
    run.Pump(milliseconds(800));
    const int n = run.PublishMalformed();
    run.Pump(seconds(2));
    return n;
  });

  WriteReport(runs, "chaos-instant");
}

json Scripts() {
  std::ifstream in(fs::path(CHANSUM_SOURCE_DIR) / "tests/fixtures/demo_channel/scripts.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str());
  return j.is_array() ? j : j.at("videos");
}

TEST_F(Chaos, RealDemoMediaSurvivesKillsAndDuplicates) {
  std::string error;
  ASSERT_TRUE(stack_.Up(EnvInt("CHAOS_PORT_SHIFT", 300) + 100, &error)) << error;
  const auto demo_dir = testing::MakeTempDir("chansum-chaos-demo");
  const int demo_port = testing::FreePort();
  const std::string base_url = "http://127.0.0.1:" + std::to_string(demo_port);
  std::string out;
  ASSERT_EQ(testing::RunCommand(
                {std::string(CHANSUM_SOURCE_DIR) + "/tests/fixtures/demo_channel/generate",
                 demo_dir.string(), "--base-url", base_url},
                &out),
            0)
      << out;
  testing::ChildProcess demo_server(
      {std::string(CHANSUM_BIN_DIR) + "/chansum_demo_server", "--root", demo_dir.string(), "--port",
       std::to_string(demo_port)},
      {}, demo_dir / "server.log");
  services_.extra_env = ChaosEnv();
  ASSERT_TRUE(services_.Start(std::vector<std::string>(kServices.begin() + 1, kServices.end())));

  ChaosRun run(services_);
  std::vector<RunFigures> runs;
  const int scripts = static_cast<int>(Scripts().size());
  // The feed has one entry whose media is missing: that one fails (permanently, with a reason).
  RunScenario(
      run, services_, runs,
      "real demo media: kill -9 download, transcription, orchestrator; "
      "duplicates",
      base_url + "/feed.xml", 20, scripts + 1, 1, [](const std::string&) { return true; },
      [&](const std::string& job_id) {
        int faults = 0;
        for (const char* s : {"download", "transcription", "orchestrator"}) {
          run.Pump(RandomMs(1500, 4000));
          run.KillAndRestart(s, RandomMs(0, 500));
          ++faults;
        }
        run.Pump(seconds(2));
        faults += run.PublishDuplicates(job_id, 1);
        return faults;
      },
      seconds(600), {{"download", "transcription"}, {}});
  WriteReport(runs, "chaos-demo");
  std::error_code ec;
  fs::remove_all(demo_dir, ec);
}

}  // namespace
}  // namespace chansum::chaos
