// The stage runner as a real process (chansum_slow_stage: a download stage whose handler only
// waits) against the stack's RabbitMQ and PostgreSQL (a private schema, PG_SEARCH_PATH):
//   - a handler that runs far longer than the AMQP heartbeat keeps its connection (the I/O thread
//     services heartbeats) and its lease (renewed), and the message is processed once;
//   - SIGTERM with a handler in flight: it finishes within SHUTDOWN_TIMEOUT_SECONDS and is
//     recorded, or past the bound the delivery is requeued, the process exits 0 in time and the
//     next instance finishes the work;
//   - with a document store that never answers (MONGO_TIMEOUT 5 s), GET /readyz still answers
//     at once: 503, naming the docstore and why;
//   - batches (a short handler, BATCH_SIZE 100): one delivery alone completes at once (never held
//     back to wait for a batch); while commits fail, nothing is acked and every delivery is
//     redelivered; once they succeed, each video is recorded once and runs of deliveries are
//     acked with one basic.ack multiple=true frame.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "chansum/common/ids.hpp"
#include "chansum/outbox/outbox.hpp"
#include "chansum/store/store.hpp"
#include "chansum/testing/pg_schema.hpp"
#include "chansum/testing/support.hpp"

namespace chansum::stage {
namespace {

using namespace std::chrono_literals;
using protocol::Stage;

class RunnerProcessTest : public testing::SchemaFixture {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    for (const char* v : {"AMQP_URL", "KAFKA_BROKERS"}) {
      const char* value = std::getenv(v);
      ASSERT_TRUE(value && *value) << v << " is not set: eval \"$(deploy/local/stack env)\"";
    }
    prefix_ = "runner-" + testing::RandomName() + ".";
    dir_ = chansum::testing::MakeTempDir("chansum-runner");
    job_id_ = NewUuid();
    pqxx::work txn(*conn_);
    store::NewJob job;
    job.id = job_id_;
    job.channel = "@demo";
    job.channel_url = "http://127.0.0.1:1/feed.xml";
    job.trace_id = "t";
    store::InsertJob(txn, job);
    store::RecordDiscovery(txn, job_id_, {{"v1", "One", "http://x/1", std::nullopt, "", ""}});
    txn.exec("UPDATE jobs SET state = 'running'");
    // The download command, published by the child's own relay (it reads this schema's outbox).
    auto cmd = protocol::NewCommand(Stage::kDownload, job_id_, "v1", "t", {{"url", "http://x/1"}});
    outbox::Message m;
    m.routing_key = protocol::QueueName(prefix_, Stage::kDownload);
    m.message_id = cmd.message_id;
    m.payload = protocol::Serialize(cmd);
    outbox::Enqueue(txn, m);
    txn.commit();
  }

  void TearDown() override {
    children_.clear();
    SchemaFixture::TearDown();
  }

  chansum::testing::ChildProcess& Start(int handler_ms, int shutdown_timeout_s,
                                        const std::string& name,
                                        const std::map<std::string, std::string>& extra_env = {}) {
    health_port_ = chansum::testing::FreePort();
    std::map<std::string, std::string> env = {
        {"PG_SEARCH_PATH", schema_},
        {"QUEUE_PREFIX", prefix_},
        {"HEALTH_PORT", std::to_string(health_port_)},
        {"AMQP_HEARTBEAT", "1s"},
        {"LEASE_SECONDS", "5"},
        {"SHUTDOWN_TIMEOUT_SECONDS", std::to_string(shutdown_timeout_s)},
        {"CHANSUM_TEST_HANDLER_MS", std::to_string(handler_ms)},
        {"CHANSUM_TEST_HONOR_STOP", "0"},
        {"MEDIA_DIR", (dir_ / "media").string()},
        {"LOG_LEVEL", "info"},
    };
    for (const auto& [k, v] : extra_env) env[k] = v;
    children_.push_back(std::make_unique<chansum::testing::ChildProcess>(
        std::vector<std::string>{CHANSUM_SLOW_STAGE_BIN}, env, dir_ / (name + ".log")));
    return *children_.back();
  }

  std::string Video(const std::string& expr) const {
    auto r = Query("SELECT " + expr + " FROM videos WHERE job_id = '" + job_id_ + "'");
    return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].as<std::string>();
  }
  bool WaitVideo(const std::string& expr, const std::string& want, std::chrono::seconds timeout) {
    return chansum::testing::WaitFor([&] { return Video(expr) == want; }, timeout, 100ms);
  }
  bool Ready() const {
    httplib::Client c("127.0.0.1", health_port_);
    c.set_connection_timeout(1);
    auto res = c.Get("/readyz");
    return res && res->status == 200;
  }
  httplib::Result Get(const std::string& path) const {
    httplib::Client c("127.0.0.1", health_port_);
    c.set_connection_timeout(1);
    c.set_read_timeout(10);
    return c.Get(path.c_str());
  }
  static std::string Read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  int NextCommands() const {
    return Query("SELECT count(*) FROM outbox WHERE routing_key = '" +
                 protocol::QueueName(prefix_, Stage::kAudioExtraction) + "'")[0][0]
        .as<int>();
  }

  std::string prefix_;
  std::filesystem::path dir_;
  std::string job_id_;
  int health_port_ = 0;
  std::vector<std::unique_ptr<chansum::testing::ChildProcess>> children_;
};

TEST_F(RunnerProcessTest, HandlerLongerThanHeartbeatAndLeaseKeepsBoth) {
  auto& child = Start(/*handler_ms=*/8000, 30, "long");
  ASSERT_TRUE(WaitVideo("state", "running", 90s)) << child.log_file() << "\n" << child.LogTail();
  const auto claimed = std::chrono::steady_clock::now();
  // Past the 5 s lease and many 1 s heartbeats: still ready (consumer connected), lease renewed.
  std::this_thread::sleep_until(claimed + 6500ms);
  EXPECT_TRUE(Ready()) << child.LogTail();
  EXPECT_EQ(Video("stage || '/' || state"), "download/running");
  EXPECT_EQ(Video("(lease_expires_at > now())::text"), "true") << "lease not renewed";
  ASSERT_TRUE(WaitVideo("stage || '/' || state", "audio_extraction/pending", 30s))
      << child.LogTail();
  EXPECT_EQ(child.Stop(), 0);
  const auto log = Read(child.log_file());
  EXPECT_EQ(log.find("RabbitMQ consumer lost"), std::string::npos) << log;
  EXPECT_EQ(log.find("already_done"), std::string::npos) << "processed twice:\n" << log;
  EXPECT_EQ(NextCommands(), 1);
}

// A TCP port on 127.0.0.1 that accepts connections (the kernel completes the handshake) and never
// answers: a hung server, the worst case for a client waiting on its own timeout.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() {
    if (fd_ >= 0) ::close(fd_);
  }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  [[nodiscard]] int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(RunnerProcessTest, ReadyzAnswersAtOnceWhileTheDocumentStoreHangs) {
  SilentServer mongo;
  ASSERT_GT(mongo.port(), 0);
  auto& child =
      Start(/*handler_ms=*/100, 30, "docstore-hangs",
            {{"CHANSUM_TEST_NEEDS_DOCSTORE", "1"},
             {"MONGO_URI", "mongodb://127.0.0.1:" + std::to_string(mongo.port()) + "/chansum"},
             {"MONGO_TIMEOUT", "5s"}});
  ASSERT_TRUE(chansum::testing::WaitFor(
      [&] {
        auto r = Get("/healthz");
        return r && r->status == 200;
      },
      60s))
      << child.LogTail();
  // Over more than one MONGO_TIMEOUT, every /readyz answers within 1.5 s: 503, the docstore
  // failing and why. (A ping per request would take the 5 s of MONGO_TIMEOUT.)
  const auto until = std::chrono::steady_clock::now() + 7s;
  int answers = 0;
  while (std::chrono::steady_clock::now() < until) {
    const auto sent = std::chrono::steady_clock::now();
    auto r = Get("/readyz");
    const auto took = std::chrono::steady_clock::now() - sent;
    ASSERT_TRUE(r) << "no answer to /readyz\n" << child.LogTail();
    EXPECT_LT(took, 1500ms);
    EXPECT_EQ(r->status, 503) << r->body;
    const auto body = nlohmann::json::parse(r->body);
    EXPECT_EQ(body["ready"], false);
    EXPECT_EQ(body["checks"]["docstore"], false) << r->body;
    EXPECT_TRUE(body.contains("errors") && body["errors"]["docstore"].is_string()) << r->body;
    ++answers;
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_GE(answers, 5);
  // The other dependencies are up: only the docstore keeps it not ready.
  ASSERT_TRUE(chansum::testing::WaitFor(
      [&] {
        auto r = Get("/readyz");
        if (!r) return false;
        const auto body = nlohmann::json::parse(r->body);
        return body["checks"]["rabbitmq"] == true && body["checks"]["postgres"] == true;
      },
      60s))
      << child.LogTail();
  auto r = Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  const auto body = nlohmann::json::parse(r->body);
  ASSERT_TRUE(body.contains("errors")) << r->body;
  EXPECT_EQ(body["errors"].size(), 1u) << r->body;
  EXPECT_TRUE(body["errors"].contains("docstore")) << r->body;
  const auto stopping = std::chrono::steady_clock::now();
  EXPECT_EQ(child.Stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 15s);
}

TEST_F(RunnerProcessTest, SigtermWithinTheBoundFinishesInFlightWork) {
  auto& child = Start(/*handler_ms=*/3000, /*shutdown_timeout_s=*/20, "finish");
  ASSERT_TRUE(WaitVideo("state", "running", 90s)) << child.log_file() << "\n" << child.LogTail();
  const auto t0 = std::chrono::steady_clock::now();
  const int status = child.Stop(30s);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(WIFEXITED(status)) << child.LogTail();
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(took, 10s);
  // Finished and recorded before exiting; the next command is in the outbox.
  EXPECT_EQ(Video("stage || '/' || state"), "audio_extraction/pending") << child.LogTail();
  EXPECT_EQ(NextCommands(), 1);
}

TEST_F(RunnerProcessTest, SigtermPastTheBoundRequeuesAndExitsZero) {
  auto& stuck = Start(/*handler_ms=*/120000, /*shutdown_timeout_s=*/2, "stuck");
  ASSERT_TRUE(WaitVideo("state", "running", 90s)) << stuck.log_file() << "\n" << stuck.LogTail();
  const auto t0 = std::chrono::steady_clock::now();
  const int status = stuck.Stop(30s);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(WIFEXITED(status)) << "killed instead of exiting:\n" << stuck.LogTail();
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(took, 8s) << "the 2 s shutdown bound was not kept";
  EXPECT_NE(Read(stuck.log_file()).find("requeued"), std::string::npos) << stuck.LogTail();
  // Nothing recorded, and the lease given back so the redelivery runs at once (a live lease of
  // another worker would make it run nothing until the lease expired).
  EXPECT_EQ(Video("stage || '/' || state || '/' || coalesce(lease_owner, '-')"),
            "download/pending/-");
  EXPECT_NE(Read(stuck.log_file()).find("released 1 leases of abandoned work"), std::string::npos)
      << stuck.LogTail();

  // The delivery went back to the queue: the next instance finishes the work.
  auto& next = Start(/*handler_ms=*/100, 30, "next");
  ASSERT_TRUE(WaitVideo("stage || '/' || state", "audio_extraction/pending", 60s))
      << next.LogTail();
  EXPECT_EQ(NextCommands(), 1);
}

// The value of an unlabelled-by-us metric line "<name>{stage=\"download\"} <value>" on /metrics.
double Metric(const std::string& text, const std::string& name) {
  const std::string key = name + "{stage=\"download\"} ";
  const auto at = text.find(key);
  return at == std::string::npos ? -1 : std::stod(text.substr(at + key.size()));
}

TEST_F(RunnerProcessTest, OneDeliveryAloneIsNotHeldBackForABatch) {
  auto& child =
      Start(/*handler_ms=*/0, 30, "alone", {{"CHANSUM_TEST_SHORT", "1"}, {"BATCH_SIZE", "100"}});
  // The one command of this job completes although a batch could hold 100 (no batch timer).
  ASSERT_TRUE(WaitVideo("stage || '/' || state", "audio_extraction/pending", 60s))
      << child.LogTail();
  EXPECT_EQ(NextCommands(), 1);
  EXPECT_EQ(child.Stop(), 0);
}

TEST_F(RunnerProcessTest, NothingIsAckedBeforeItsCommitAndRunsAreAckedTogether) {
  constexpr int kMore = 20;  // plus v1 of the fixture
  {
    pqxx::work txn(*conn_);
    std::vector<store::DiscoveredVideo> videos = {
        {"v1", "One", "http://x/1", std::nullopt, "", ""}};
    for (int i = 2; i <= kMore + 1; ++i) {
      videos.push_back(
          {"v" + std::to_string(i), "V", "http://x/" + std::to_string(i), std::nullopt, "", ""});
    }
    store::RecordDiscovery(txn, job_id_, videos);
    for (int i = 2; i <= kMore + 1; ++i) {
      auto cmd = protocol::NewCommand(Stage::kDownload, job_id_, "v" + std::to_string(i), "t",
                                      {{"url", "http://x/" + std::to_string(i)}});
      outbox::Message m;
      m.routing_key = protocol::QueueName(prefix_, Stage::kDownload);
      m.message_id = cmd.message_id;
      m.payload = protocol::Serialize(cmd);
      outbox::Enqueue(txn, m);
    }
    // From here on every commit that writes an outbox row fails AT COMMIT (a deferred
    // constraint trigger), after all of the batch's statements succeeded.
    FailCommitsThatWriteTheOutbox(txn);
    txn.commit();
  }
  auto& child =
      Start(/*handler_ms=*/0, 30, "batch",
            {{"CHANSUM_TEST_SHORT", "1"}, {"BATCH_SIZE", "100"}, {"DELIVERY_LIMIT", "100"}});
  // Every delivery comes back at least once, and not one is acked meanwhile.
  std::string metrics;
  ASSERT_TRUE(chansum::testing::WaitFor(
      [&] {
        auto r = Get("/metrics");
        if (!r || r->status != 200) return false;
        metrics = r->body;
        return Metric(metrics, "chansum_stage_messages_requeued_total") >= kMore + 1;
      },
      60s))
      << metrics << child.LogTail();
  EXPECT_EQ(Metric(metrics, "chansum_stage_messages_acked_total"), 0) << metrics;
  EXPECT_EQ(std::stoi(Video("count(*) FILTER (WHERE stage <> 'download')")), 0);
  EXPECT_EQ(NextCommands(), 0);

  Query("DELETE FROM fail_commits");
  ASSERT_TRUE(WaitVideo("count(*) FILTER (WHERE stage = 'audio_extraction')",
                        std::to_string(kMore + 1), 60s))
      << child.LogTail();
  EXPECT_EQ(NextCommands(), kMore + 1);  // each video recorded once
  ASSERT_TRUE(chansum::testing::WaitFor(
      [&] {
        auto r = Get("/metrics");
        if (!r) return false;
        metrics = r->body;
        return Metric(metrics, "chansum_stage_messages_acked_total") == kMore + 1;
      },
      30s))
      << metrics;
  // The redelivered deliveries came back as one batch: fewer ack frames than deliveries.
  EXPECT_LT(Metric(metrics, "chansum_stage_ack_frames_total"), kMore + 1) << metrics;
  EXPECT_EQ(child.Stop(), 0);
}

}  // namespace
}  // namespace chansum::stage
