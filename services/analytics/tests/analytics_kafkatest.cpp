// Integration tests against the local stack (KAFKA_BROKERS and DATABASE_URL from
// `eval "$(deploy/local/stack env)"`). Each test has its own QUEUE_PREFIX (topics, group) and its
// own PostgreSQL schema (PG_SEARCH_PATH), dropped afterwards.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "chansum/common/ids.hpp"
#include "chansum/kafka/admin.hpp"
#include "chansum/kafka/producer.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/protocol/events.hpp"
#include "src/event.hpp"
#include "src/service.hpp"

namespace chansum::analytics {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

// One produced event: topic type, key and the envelope.
struct Produced {
  std::string type;
  std::string key;
  std::string payload;
};

// An in-process analytics service running on its own thread.
class Instance {
 public:
  explicit Instance(AnalyticsConfig config) : service_(std::move(config)) {
    thread_ = std::thread([this] { rc_ = service_.Run([this] { return stop_.load(); }); });
  }
  ~Instance() { Stop(); }
  int Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return rc_;
  }
  Service& service() { return service_; }
  // GET on the instance's HTTP port: {status, parsed body}.
  std::pair<int, json> Get(const std::string& path) {
    const int port = service_.http_port();
    if (port == 0) return {0, json()};
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(10, 0);
    auto res = cli.Get(path.c_str());
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

 private:
  Service service_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  int rc_ = -1;
};

class AnalyticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* brokers = std::getenv("KAFKA_BROKERS");
    const char* url = std::getenv("DATABASE_URL");
    if (brokers == nullptr || *brokers == '\0' || url == nullptr || *url == '\0') {
      GTEST_FAIL() << "KAFKA_BROKERS and DATABASE_URL must be set: start the stack and run "
                      "eval \"$(deploy/local/stack env)\"";
    }
    const std::string tag = NewUuid().substr(0, 8);
    prefix_ = "test-analytics-" + tag + ".";
    schema_ = "test_analytics_" + tag;
    kafka_.brokers = brokers;
    kafka_.client_id = "analytics_kafkatest";
    kafka_.message_timeout = 30s;
    pg_.url = url;
    pg_.connect_timeout = 5s;
    {
      auto conn = pg::Connect(pg_);
      ASSERT_TRUE(conn.ok()) << conn.error().ToString();
      pqxx::work txn(**conn);
      txn.exec0("CREATE SCHEMA " + txn.quote_name(schema_));
      txn.commit();
    }
    pg_.search_path = schema_;
    auto st = kafka::CreateTopics(kafka_, protocol::EventTopics(prefix_), 3, 1);
    ASSERT_TRUE(st.ok()) << st.error().ToString();
    auto p = kafka::Producer::Create(kafka_);
    ASSERT_TRUE(p.ok()) << p.error().ToString();
    producer_ = std::move(*p);
  }

  void TearDown() override {
    producer_.reset();
    if (!prefix_.empty()) (void)kafka::DeleteTopics(kafka_, protocol::EventTopics(prefix_));
    if (schema_.empty()) return;
    pg::PgConfig admin = pg_;
    admin.search_path.clear();
    auto conn = pg::Connect(admin);
    if (!conn.ok()) return;
    pqxx::work txn(**conn);
    txn.exec0("DROP SCHEMA IF EXISTS " + txn.quote_name(schema_) + " CASCADE");
    txn.commit();
  }

  AnalyticsConfig Config() const {
    AnalyticsConfig c;
    c.queue_prefix = prefix_;
    c.http_port = 0;
    c.poll_timeout = 200ms;
    c.kafka = kafka_;
    c.pg = pg_;
    return c;
  }

  static Produced Event(const std::string& type, const std::string& job_id,
                        const std::string& video_id, json data) {
    json j = {{"event_id", NewUuid()},         {"type", type},     {"version", 1},
              {"occurred_at", NowTimestamp()}, {"job_id", job_id}, {"trace_id", "trace-" + job_id},
              {"data", std::move(data)}};
    if (!video_id.empty()) j["video_id"] = video_id;
    return Produced{type, video_id.empty() ? job_id : video_id, j.dump()};
  }

  void Produce(const std::vector<Produced>& events) {
    for (const auto& e : events) {
      ASSERT_TRUE(producer_
                      ->Produce(prefix_ + e.type, e.key, e.payload,
                                [](const auto& r) {
                                  ASSERT_TRUE(r.persisted()) << r.status.error().ToString();
                                })
                      .ok());
    }
    auto st = producer_->Flush(30s);
    ASSERT_TRUE(st.ok()) << st.error().ToString();
  }

  std::int64_t Scalar(const std::string& sql) {
    auto conn = pg::Connect(pg_);
    if (!conn.ok()) throw std::runtime_error(conn.error().ToString());
    pqxx::work txn(**conn);
    return txn.exec1(sql)[0].as<std::int64_t>();
  }

  // A realistic job: n discovered; all but the last video pass the 4 stages with known durations;
  // the last fails at download (permanent); then job.completed.
  std::vector<Produced> JobSequence(const std::string& job_id, int n,
                                    std::vector<double>* download_ms,
                                    std::vector<double>* summarize_ms) {
    std::vector<Produced> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(Event("video.discovered", job_id, "v" + std::to_string(i),
                          {{"title", "Video " + std::to_string(i)},
                           {"url", "https://example.invalid/" + std::to_string(i)},
                           {"duration_s", 60},
                           {"published_at", nullptr},
                           {"position", i}}));
    }
    for (int i = 0; i + 1 < n; ++i) {
      const std::string v = "v" + std::to_string(i);
      const int dl = 100 * (i + 1);
      const int sm = 1000 + 37 * i * i;
      download_ms->push_back(dl);
      summarize_ms->push_back(sm);
      out.push_back(Event("video.downloaded", job_id, v, {{"duration_ms", dl}, {"bytes", 1000}}));
      out.push_back(Event("audio.extracted", job_id, v,
                          {{"duration_ms", 50}, {"audio_seconds", 60.0}, {"bytes", 500}}));
      out.push_back(Event("transcription.completed", job_id, v,
                          {{"duration_ms", 3000 + i},
                           {"engine", "pocketsphinx"},
                           {"segments", 12},
                           {"audio_seconds", 60.0}}));
      out.push_back(Event("summarization.completed", job_id, v,
                          {{"duration_ms", sm},
                           {"engine", "textrank"},
                           {"key_points", 3},
                           {"summary_chars", 400}}));
    }
    out.push_back(Event("video.failed", job_id, "v" + std::to_string(n - 1),
                        {{"stage", "download"},
                         {"error_class", "permanent"},
                         {"error_code", "video_unavailable"},
                         {"error_message", "Video unavailable"},
                         {"attempts", 1}}));
    out.push_back(Event("job.completed", job_id, "",
                        {{"state", "completed_with_errors"},
                         {"video_count", n},
                         {"done", n - 1},
                         {"failed", 1},
                         {"duration_ms", 12345}}));
    return out;
  }

  std::string prefix_;
  std::string schema_;
  kafka::KafkaConfig kafka_;
  pg::PgConfig pg_;
  std::unique_ptr<kafka::Producer> producer_;
};

// Every event type's topic, 3 partitions each (the topics these tests' analytics ensures).
const std::size_t kAllPartitions = std::size(protocol::kAllEventTypes) * 3;

TEST_F(AnalyticsTest, AppliesJobOnceServesFiguresIgnoresRedeliveryAndSurvivesRestart) {
  const std::string job_id = NewUuid();
  constexpr int kVideos = 5;
  std::vector<double> download_ms, summarize_ms;
  const auto events = JobSequence(job_id, kVideos, &download_ms, &summarize_ms);
  const std::int64_t expected_total = static_cast<std::int64_t>(events.size());  // 5+16+1+1

  auto a = std::make_unique<Instance>(Config());
  Produce(events);
  // One malformed record on a real topic: it must land in analytics_rejects, not block the rest.
  ASSERT_TRUE(producer_->ProduceSync(prefix_ + "video.downloaded", "bad", "{not json", 30s).ok());

  json job;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto [status, body] = a->Get("/jobs/" + job_id + "/analytics");
        if (status != 200) return false;
        job = body;
        return body["events_total"] == expected_total && a->service().Stats().rejected == 1;
      },
      60s))
      << job.dump(2);

  EXPECT_EQ(job["videos"]["discovered"], kVideos);
  EXPECT_EQ(job["videos"]["done"], kVideos - 1);
  EXPECT_EQ(job["videos"]["failed"], 1);
  EXPECT_EQ(job["videos"]["in_progress"], 0);
  EXPECT_EQ(job["events"]["video.downloaded"], kVideos - 1);
  EXPECT_EQ(job["failures"]["total"], 1);
  EXPECT_EQ(job["failures"]["by_class"]["permanent"], 1);
  EXPECT_EQ(job["failures"]["by_class"]["transient"], 0);
  EXPECT_EQ(job["failures"]["by_stage"]["download"], 1);
  EXPECT_EQ(job["failures"]["by_code"][0]["error_code"], "video_unavailable");
  EXPECT_EQ(job["stages"]["download"]["count"], kVideos - 1);
  EXPECT_DOUBLE_EQ(job["stages"]["download"]["p50_ms"].get<double>(),
                   *PercentileCont(download_ms, 0.5));
  EXPECT_DOUBLE_EQ(job["stages"]["download"]["p95_ms"].get<double>(),
                   *PercentileCont(download_ms, 0.95));
  EXPECT_DOUBLE_EQ(job["stages"]["summarization"]["p50_ms"].get<double>(),
                   *PercentileCont(summarize_ms, 0.5));
  EXPECT_EQ(job["stages"]["audio_extraction"]["max_ms"], 50);
  std::int64_t finished = 0;
  for (const auto& m : job["finished_per_minute"]) finished += m["total"].get<std::int64_t>();
  EXPECT_EQ(finished, kVideos);
  ASSERT_TRUE(job["job"].is_object());
  EXPECT_EQ(job["job"]["state"], "completed_with_errors");
  EXPECT_EQ(job["job"]["video_count"], kVideos);

  auto [ostatus, overall] = a->Get("/analytics");
  ASSERT_EQ(ostatus, 200);
  EXPECT_EQ(overall["events_total"], expected_total);
  EXPECT_EQ(overall["rejected_events"], 1);
  EXPECT_EQ(overall["jobs"]["seen"], 1);
  EXPECT_EQ(overall["jobs"]["completed_by_state"]["completed_with_errors"], 1);
  EXPECT_EQ(overall["finished_per_minute"].size(), 60u);
  std::int64_t overall_finished = 0;
  for (const auto& m : overall["finished_per_minute"]) {
    overall_finished += m["total"].get<std::int64_t>();
  }
  EXPECT_EQ(overall_finished, kVideos);

  EXPECT_EQ(Scalar("SELECT count(*) FROM analytics_rejects WHERE reason LIKE '%not valid JSON%'"
                   " AND convert_from(payload, 'UTF8') = '{not json'"),
            1);

  auto [nf_status, nf] = a->Get("/jobs/" + NewUuid() + "/analytics");
  EXPECT_EQ(nf_status, 404);
  EXPECT_EQ(nf["error"]["code"], "not_found");
  auto [bad_status, bad] = a->Get("/jobs/not-a-uuid/analytics");
  EXPECT_EQ(bad_status, 400);
  EXPECT_EQ(bad["error"]["code"], "invalid_job_id");
  EXPECT_EQ(a->Get("/readyz").first, 200);
  EXPECT_EQ(a->Get("/healthz").first, 200);

  // Redelivery: the very same records again (same event_ids) change nothing.
  Produce(events);
  ASSERT_TRUE(WaitUntil(
      [&] { return a->service().Stats().duplicates == static_cast<std::uint64_t>(expected_total); },
      60s))
      << a->service().Stats().duplicates;
  auto [again_status, again] = a->Get("/jobs/" + job_id + "/analytics");
  ASSERT_EQ(again_status, 200);
  EXPECT_EQ(again, job);
  EXPECT_EQ(a->service().Stats().applied, static_cast<std::uint64_t>(expected_total));

  // Restart: a clean stop, then a new member of the same group sees only what is new (every
  // offset was committed after its DB commit, so nothing is redelivered or lost).
  EXPECT_EQ(a->Stop(), 0);
  a.reset();
  Instance b(Config());
  std::vector<Produced> more = {
      Event("video.discovered", job_id, "v-late",
            {{"title", "late"},
             {"url", "u"},
             {"duration_s", nullptr},
             {"published_at", nullptr},
             {"position", 9}}),
      Event("video.downloaded", job_id, "v-late", {{"duration_ms", 777}, {"bytes", 1}})};
  Produce(more);
  ASSERT_TRUE(WaitUntil([&] { return b.service().Stats().applied == 2; }, 60s));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(b.service().Stats().applied, 2u);
  EXPECT_EQ(b.service().Stats().duplicates, 0u);
  EXPECT_EQ(b.service().Stats().rejected, 0u);
  EXPECT_EQ(Scalar("SELECT count FROM analytics_counts WHERE scope = '" + job_id +
                   "' AND type = 'video.discovered'"),
            kVideos + 1);
  EXPECT_EQ(b.Stop(), 0);
}

TEST_F(AnalyticsTest, TwoInstancesSplitPartitionsAndCountEveryEventOnce) {
  Instance a(Config());
  Instance b(Config());
  std::vector<kafka::TopicPartition> pa, pb;
  ASSERT_TRUE(WaitUntil(
      [&] {
        pa = a.service().Assignment();
        pb = b.service().Assignment();
        std::set<kafka::TopicPartition> all(pa.begin(), pa.end());
        all.insert(pb.begin(), pb.end());
        return !pa.empty() && !pb.empty() && all.size() == kAllPartitions &&
               pa.size() + pb.size() == kAllPartitions;
      },
      90s))
      << pa.size() << " + " << pb.size();

  const std::string job_id = NewUuid();
  std::vector<Produced> events;
  for (int round = 0; round < 3; ++round) {
    std::vector<double> d, s;
    auto seq = JobSequence(job_id, 10, &d, &s);
    // Distinct videos per round so keys spread over partitions.
    for (auto& e : seq) {
      if (e.type == "job.completed") continue;
      json j = json::parse(e.payload);
      j["video_id"] = j["video_id"].get<std::string>() + "-r" + std::to_string(round);
      e.key = j["video_id"];
      e.payload = j.dump();
      events.push_back(e);
    }
  }
  const auto total = static_cast<std::uint64_t>(events.size());
  Produce(events);
  ASSERT_TRUE(WaitUntil(
      [&] { return a.service().Stats().applied + b.service().Stats().applied >= total; }, 90s))
      << a.service().Stats().applied << " + " << b.service().Stats().applied << " of " << total;
  std::this_thread::sleep_for(1s);
  const auto sa = a.service().Stats();
  const auto sb = b.service().Stats();
  EXPECT_EQ(sa.applied + sb.applied, total);
  EXPECT_EQ(sa.duplicates + sb.duplicates, 0u);
  EXPECT_GT(sa.applied, 0u);
  EXPECT_GT(sb.applied, 0u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM analytics_events WHERE job_id = '" + job_id + "'"),
            static_cast<std::int64_t>(total));
  auto [status, job] = a.Get("/jobs/" + job_id + "/analytics");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(job["videos"]["discovered"], 30);
  EXPECT_EQ(job["videos"]["done"], 27);
  EXPECT_EQ(job["failures"]["by_class"]["permanent"], 3);
  // The other member serves the same figures (one database).
  auto [status_b, job_b] = b.Get("/jobs/" + job_id + "/analytics");
  ASSERT_EQ(status_b, 200);
  EXPECT_EQ(job_b, job);
  EXPECT_EQ(a.Stop(), 0);
  EXPECT_EQ(b.Stop(), 0);
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Starts the real binary with `env` (nothing inherited), stderr to `log_path`.
pid_t Spawn(const std::vector<std::string>& env, const std::string& log_path) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    char* argv[] = {const_cast<char*>(CHANSUM_ANALYTICS_BINARY), nullptr};
    ::execve(CHANSUM_ANALYTICS_BINARY, argv, envp.data());
    ::_exit(127);
  }
  return pid;
}

int WaitExit(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -2;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(AnalyticsTest, BinaryServesAppliesAndStopsCleanlyOnSigterm) {
  const int port = FreePort();
  const std::string log = "/tmp/analytics_kafkatest_" + prefix_ + "log";
  const pid_t pid = Spawn(
      {"KAFKA_BROKERS=" + kafka_.brokers, "DATABASE_URL=" + pg_.url, "PG_SEARCH_PATH=" + schema_,
       "QUEUE_PREFIX=" + prefix_, "ANALYTICS_HTTP_PORT=" + std::to_string(port)},
      log);
  ASSERT_GT(pid, 0);
  httplib::Client cli("127.0.0.1", port);
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto r = cli.Get("/readyz");
        return r && r->status == 200;
      },
      60s))
      << ReadFile(log);
  const std::string job_id = NewUuid();
  Produce({Event("video.discovered", job_id, "vx",
                 {{"title", "t"},
                  {"url", "u"},
                  {"duration_s", 1},
                  {"published_at", nullptr},
                  {"position", 0}})});
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto r = cli.Get(("/jobs/" + job_id + "/analytics").c_str());
        return r && r->status == 200;
      },
      60s));
  ::kill(pid, SIGTERM);
  EXPECT_EQ(WaitExit(pid, 30s), 0) << ReadFile(log);
  const std::string out = ReadFile(log);
  EXPECT_NE(out.find("stopped cleanly"), std::string::npos) << out;
  // Logs are JSON lines and never carry the database password.
  EXPECT_NE(out.find("{\"ts\":"), std::string::npos) << out;
  const auto at = pg_.url.find('@');
  const auto colon = pg_.url.rfind(':', at);
  if (at != std::string::npos && colon != std::string::npos && colon > pg_.url.find("//") + 2) {
    const std::string password = pg_.url.substr(colon + 1, at - colon - 1);
    if (!password.empty()) {
      EXPECT_EQ(out.find(password), std::string::npos);
    }
  }

  // The offset was committed: a later member of the group does not apply it again.
  Instance later(Config());
  ASSERT_TRUE(
      WaitUntil([&] { return later.service().Assignment().size() == kAllPartitions; }, 60s));
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(later.service().Stats().applied, 0u);
  EXPECT_EQ(later.service().Stats().duplicates, 0u);
  EXPECT_EQ(later.Stop(), 0);
  ::unlink(log.c_str());
}

TEST_F(AnalyticsTest, DatabaseFailureWhileApplyingRedeliversAndCountsOnce) {
  AnalyticsConfig c = Config();
  c.pg.statement_timeout = 1s;
  Instance a(c);
  ASSERT_TRUE(WaitUntil([&] { return a.Get("/readyz").first == 200; }, 60s));
  // Block the aggregate table: applying an event now times out (transient) inside its transaction.
  auto locker = pg::Connect(pg_);
  ASSERT_TRUE(locker.ok()) << locker.error().ToString();
  auto lock_txn = std::make_unique<pqxx::work>(**locker);
  lock_txn->exec0("LOCK TABLE analytics_counts IN ACCESS EXCLUSIVE MODE");

  const std::string job_id = NewUuid();
  std::vector<Produced> events;
  for (int i = 0; i < 3; ++i) {
    events.push_back(Event("video.discovered", job_id, "v" + std::to_string(i),
                           {{"title", "t"},
                            {"url", "u"},
                            {"duration_s", 1},
                            {"published_at", nullptr},
                            {"position", i}}));
  }
  Produce(events);
  ASSERT_TRUE(WaitUntil([&] { return a.service().Stats().redeliveries >= 1; }, 60s));
  EXPECT_EQ(a.Get("/readyz").first, 503);
  EXPECT_EQ(a.service().Stats().applied, 0u);
  lock_txn->abort();
  lock_txn.reset();

  ASSERT_TRUE(WaitUntil(
      [&] {
        auto [status, body] = a.Get("/jobs/" + job_id + "/analytics");
        return status == 200 && body["events_total"] == 3;
      },
      60s));
  EXPECT_EQ(a.service().Stats().applied, 3u);
  auto [status, body] = a.Get("/jobs/" + job_id + "/analytics");
  EXPECT_EQ(body["videos"]["discovered"], 3);
  EXPECT_EQ(Scalar("SELECT count(*) FROM analytics_rejects"), 0);
  ASSERT_TRUE(WaitUntil([&] { return a.Get("/readyz").first == 200; }, 30s));
  EXPECT_EQ(a.Stop(), 0);
}

TEST_F(AnalyticsTest, ReportsNotReadyWhileADependencyIsDownAndStillStopsCleanly) {
  // PostgreSQL unreachable: the service stays up, answers health, reports not ready, and the
  // analytics endpoints say 503 instead of crashing.
  {
    AnalyticsConfig c = Config();
    c.pg.url = "postgresql://nobody@127.0.0.1:" + std::to_string(FreePort()) + "/none";
    c.pg.connect_timeout = 1s;
    Instance down(c);
    ASSERT_TRUE(WaitUntil([&] { return down.Get("/readyz").first == 503; }, 20s));
    auto [status, ready] = down.Get("/readyz");
    EXPECT_EQ(ready["checks"]["postgres"], false);
    EXPECT_EQ(ready["checks"]["schema"], false);
    EXPECT_EQ(down.Get("/healthz").first, 200);
    auto [astatus, body] = down.Get("/analytics");
    EXPECT_EQ(astatus, 503);
    EXPECT_EQ(body["error"]["code"], "unavailable");
    std::this_thread::sleep_for(2s);  // a few retries, no crash
    EXPECT_EQ(down.Stop(), 0);
  }
  // Kafka unreachable: schema applied, postgres fine, kafka not ready.
  {
    AnalyticsConfig c = Config();
    c.kafka.brokers = "127.0.0.1:" + std::to_string(FreePort());
    Instance down(c);
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto [status, ready] = down.Get("/readyz");
          return status == 503 && ready["checks"]["schema"] == true;
        },
        20s));
    auto [status, ready] = down.Get("/readyz");
    EXPECT_EQ(ready["checks"]["postgres"], true);
    EXPECT_EQ(ready["checks"]["kafka"], false);
    EXPECT_EQ(down.Get("/analytics").first, 200);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(down.Stop(), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  }
}

TEST(AnalyticsBinary, ReportsEveryConfigProblemAndExits2) {
  const std::string log = "/tmp/analytics_kafkatest_config_" + NewUuid().substr(0, 8) + ".log";
  const pid_t pid = Spawn({"ANALYTICS_HTTP_PORT=notaport"}, log);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitExit(pid, 10s), 2);
  const std::string out = ReadFile(log);
  EXPECT_NE(out.find("KAFKA_BROKERS"), std::string::npos) << out;
  EXPECT_NE(out.find("DATABASE_URL"), std::string::npos) << out;
  EXPECT_NE(out.find("ANALYTICS_HTTP_PORT"), std::string::npos) << out;
  ::unlink(log.c_str());
}

}  // namespace
}  // namespace chansum::analytics
