// Integration tests against the local stack's RabbitMQ: eval "$(deploy/local/stack env)" first.
// Each test uses its own QUEUE_PREFIX and a temporary AUDIT_LOG_DIR.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <httplib.h>
#include "chansum/testing/rabbitmq.hpp"

#include "chansum/amqp/consumer.hpp"
#include "chansum/amqp/publisher.hpp"
#include "chansum/amqp/topology.hpp"
#include "chansum/common/ids.hpp"
#include "chansum/kafka/admin.hpp"
#include "chansum/kafka/producer.hpp"
#include "chansum/protocol/events.hpp"
#include "src/event_logger.hpp"

namespace chansum::event_logger {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

// A port nothing listens on (bound, read, closed).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

using chansum::testing::ForceCloseConnection;
using chansum::testing::RabbitmqctlCommand;
using chansum::testing::RunShell;

// A contract-shaped envelope; every body has the same length for a given id length.
std::string EventBody(const std::string& id) {
  return R"({"event_id":")" + id +
         R"(","type":"video.downloaded","version":1,"occurred_at":"2026-11-23T12:00:00.000Z",)"
         R"("job_id":"11111111-2222-4333-8444-555555555555","video_id":"vid00000001",)"
         R"("trace_id":"trace-1","data":{"duration_ms":1234,"bytes":56789}})";
}

class EventLoggerRmqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("AMQP_URL");
    ASSERT_NE(url, nullptr) << "AMQP_URL is not set: run eval \"$(deploy/local/stack env)\"";
    auto parsed = amqp::ParseAmqpUrl(url);
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    amqp_ = parsed.value();
    amqp_.url = url;
    prefix_ = "evlog-" + NewUuid().substr(0, 8) + ".";
    std::string tmpl = (fs::temp_directory_path() / "evlog-rmq-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    config_.amqp = amqp_;
    config_.queue_prefix = prefix_;
    config_.audit_dir = dir_;
    config_.batch_window = 50ms;
    auto pub = amqp::Publisher::Open(amqp_, "evlog-test-publisher");
    ASSERT_TRUE(pub.ok()) << pub.error().ToString();
    publisher_ = std::move(pub).value();
  }

  void TearDown() override {
    StopLogger();
    publisher_.reset();
    auto conn = amqp::Connection::Open(amqp_, "evlog-test-cleanup");
    if (conn.ok()) {
      (void)amqp::DeleteQueue(**conn, config_.Queue());
      (void)amqp::DeleteQueue(**conn, config_.DeadLetterQueue());
      (void)amqp::DeleteExchange(**conn, config_.Exchange());
    }
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);
  }

  void StartLogger() {
    logger_ = std::make_unique<EventLogger>(config_);
    stop_ = false;
    thread_ = std::thread([this] { logger_->Run([this] { return stop_.load(); }); });
    ASSERT_TRUE(WaitUntil([this] { return logger_->ready(); }, 15s)) << "logger never ready";
  }
  void StopLogger() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  void Publish(const std::vector<std::string>& bodies) {
    std::vector<amqp::Message> messages;
    for (const auto& body : bodies) {
      amqp::Message m;
      m.exchange = config_.Exchange();
      m.routing_key = "video.downloaded";
      m.body = body;
      m.message_id = NewUuid();
      messages.push_back(std::move(m));
    }
    ASSERT_TRUE(publisher_->PublishBatch(messages).ok());
  }
  void PublishIds(const std::vector<std::string>& ids) {
    std::vector<std::string> bodies;
    for (const auto& id : ids) bodies.push_back(EventBody(id));
    Publish(bodies);
  }

  // Event ids of every kept file, oldest first.
  std::vector<std::string> LoggedIds() const {
    std::vector<std::string> ids;
    for (int i = config_.keep - 1; i >= 0; --i) {
      std::ifstream in(dir_ / AuditFileName(i));
      for (std::string line; std::getline(in, line);) {
        auto id = ExtractEventId(line);
        ids.push_back(id ? *id : "<no event_id: " + line + ">");
      }
    }
    return ids;
  }

  // Drains a queue with a fresh consumer (acking), returning the bodies.
  std::vector<std::string> Drain(const std::string& queue) {
    std::vector<std::string> bodies;
    auto c = amqp::Consumer::Open(amqp_, "evlog-test-drain", {queue, 1000, "", false});
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    if (!c.ok()) return bodies;
    for (;;) {
      auto d = (*c)->Next(1000ms);
      EXPECT_TRUE(d.ok());
      if (!d.ok() || !d->has_value()) break;
      bodies.push_back((*d)->body);
      EXPECT_TRUE((*c)->Ack((*d)->delivery_tag).ok());
    }
    return bodies;
  }

  std::uint32_t ReadyMessages(const std::string& queue) {
    auto conn = amqp::Connection::Open(amqp_, "evlog-test-inspect");
    EXPECT_TRUE(conn.ok());
    if (!conn.ok()) return 0;
    auto stats = amqp::InspectQueue(**conn, queue);
    EXPECT_TRUE(stats.ok()) << stats.error().ToString();
    return stats.ok() ? stats->messages : 0;
  }

  amqp::AmqpConfig amqp_;
  std::string prefix_;
  fs::path dir_;
  EventLoggerConfig config_;
  std::unique_ptr<amqp::Publisher> publisher_;
  std::unique_ptr<EventLogger> logger_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(EventLoggerRmqTest, WritesEveryPublishedEventOnce) {
  StartLogger();
  std::vector<std::string> ids;
  for (int i = 0; i < 250; ++i) ids.push_back(NewUuid());
  PublishIds(ids);
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().acked.load() >= 250; }, 20s))
      << "acked " << logger_->stats().acked.load();
  StopLogger();
  EXPECT_EQ(LoggedIds(), ids);  // exactly N lines, in publication order
  EXPECT_EQ(logger_->stats().written.load(), 250u);
  EXPECT_GE(logger_->stats().batches.load(), 3u);  // prefetch 100: batched, not one fsync each
  EXPECT_EQ(ReadyMessages(config_.Queue()), 0u);   // all acked
  // Each line is the compact envelope as received.
  std::ifstream in(dir_ / "events.jsonl");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, EventBody(ids[0]));
}

TEST_F(EventLoggerRmqTest, SameEventTwiceIsWrittenOnce) {
  StartLogger();
  const std::string a = NewUuid();
  PublishIds({a, a});  // same batch
  PublishIds({a});     // later batch
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().acked.load() >= 3; }, 10s));
  StopLogger();
  EXPECT_EQ(LoggedIds(), std::vector<std::string>{a});
  EXPECT_EQ(logger_->stats().duplicates.load(), 2u);
  EXPECT_EQ(ReadyMessages(config_.Queue()), 0u);  // duplicates are acked too
}

TEST_F(EventLoggerRmqTest, DedupSurvivesRestart) {
  const std::string a = NewUuid(), b = NewUuid(), c = NewUuid();
  StartLogger();
  PublishIds({a, b});
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().acked.load() >= 2; }, 10s));
  StopLogger();

  StartLogger();  // a new instance on the same directory
  PublishIds({a, c});
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().acked.load() >= 2; }, 10s));
  StopLogger();
  EXPECT_EQ(logger_->stats().duplicates.load(), 1u);
  EXPECT_EQ(LoggedIds(), (std::vector<std::string>{a, b, c}));
}

TEST_F(EventLoggerRmqTest, RotationKeepsFilesAndDedupsAcrossThem) {
  const std::uint64_t line = EventBody(NewUuid()).size() + 1;
  config_.max_bytes = line * 3;
  config_.keep = 3;
  StartLogger();
  std::vector<std::string> ids;
  for (int i = 0; i < 14; ++i) ids.push_back(NewUuid());
  PublishIds(ids);
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().acked.load() >= 14; }, 10s));
  // Files of 3 lines: 14 = 3+3+3+3+2, only the newest 3 files kept.
  int files = 0;
  for (const auto& f : fs::directory_iterator(dir_)) {
    ++files;
    EXPECT_LE(f.file_size(), config_.max_bytes) << f.path();
  }
  EXPECT_EQ(files, 3);
  EXPECT_TRUE(fs::exists(dir_ / "events.jsonl.2"));
  EXPECT_FALSE(fs::exists(dir_ / "events.jsonl.3"));
  const std::vector<std::string> kept(ids.begin() + 6, ids.end());
  EXPECT_EQ(LoggedIds(), kept);

  // ids[6] is in the oldest kept file, ids[13] in the active one.
  PublishIds({ids[6], ids[13]});
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().duplicates.load() >= 2; }, 10s));
  StopLogger();

  StartLogger();  // index rebuilt by scanning the three kept files
  PublishIds({ids[6], ids[10]});
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().duplicates.load() >= 2; }, 10s));
  EXPECT_EQ(logger_->stats().written.load(), 0u);
  EXPECT_EQ(LoggedIds(), kept);

  // Documented limit: dedup covers the kept files only; ids[0]'s file was deleted.
  PublishIds({ids[0]});
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().written.load() >= 1; }, 10s));
  StopLogger();
  EXPECT_EQ(LoggedIds().back(), ids[0]);
}

TEST_F(EventLoggerRmqTest, MalformedMessagesAreDeadLetteredNotLogged) {
  StartLogger();
  const std::vector<std::string> bad = {"not json", R"({"type":"video.downloaded"})", "[1,2]",
                                        R"({"event_id":7})"};
  Publish(bad);
  const std::string good = NewUuid();
  PublishIds({good});
  ASSERT_TRUE(WaitUntil(
      [&] { return logger_->stats().rejected.load() >= 4 && logger_->stats().acked >= 1; }, 10s));
  StopLogger();
  EXPECT_EQ(LoggedIds(), std::vector<std::string>{good});
  ASSERT_TRUE(WaitUntil([&] { return ReadyMessages(config_.DeadLetterQueue()) == 4; }, 10s))
      << "DLQ holds " << ReadyMessages(config_.DeadLetterQueue());
  auto dead = Drain(config_.DeadLetterQueue());
  EXPECT_EQ(std::multiset<std::string>(dead.begin(), dead.end()),
            std::multiset<std::string>(bad.begin(), bad.end()));
  EXPECT_EQ(ReadyMessages(config_.Queue()), 0u);
}

TEST_F(EventLoggerRmqTest, FailedWriteIsNotAckedAndIsWrittenOnceTheDiskRecovers) {
  fs::create_symlink("/dev/full", dir_ / "events.jsonl");  // every write fails with ENOSPC
  StartLogger();
  const std::string a = NewUuid();
  PublishIds({a});
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(logger_->stats().acked.load(), 0u);
  EXPECT_EQ(logger_->stats().written.load(), 0u);
  fs::remove(dir_ / "events.jsonl");  // the disk "recovers"
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().acked.load() >= 1; }, 40s));
  StopLogger();
  EXPECT_EQ(LoggedIds(), std::vector<std::string>{a});
  EXPECT_EQ(ReadyMessages(config_.Queue()), 0u);
}

TEST_F(EventLoggerRmqTest, NotReadyWhileBrokerUnreachableAndStopsPromptly) {
  config_.amqp.port = FreePort();
  config_.amqp.connect_timeout = 500ms;
  logger_ = std::make_unique<EventLogger>(config_);
  thread_ = std::thread([this] { logger_->Run([this] { return stop_.load(); }); });
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(logger_->ready());
  EXPECT_TRUE(fs::exists(dir_ / "events.jsonl"));  // the log side is up; it keeps retrying
  const auto t0 = std::chrono::steady_clock::now();
  StopLogger();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST_F(EventLoggerRmqTest, ReconnectsAfterTheBrokerClosesItsConnection) {
  const std::string rabbitmqctl = RabbitmqctlCommand();
  ASSERT_FALSE(rabbitmqctl.empty())
      << "cannot find the stack's rabbitmqctl: CHANSUM_RUN_DIR not set or broker not running";
  StartLogger();
  const std::string a = NewUuid(), b = NewUuid();
  PublishIds({a});
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().acked.load() >= 1; }, 10s));
  ASSERT_TRUE(ForceCloseConnection(rabbitmqctl, config_.ConsumerConnectionName()));
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().connects.load() >= 2; }, 20s))
      << "never reconnected";
  PublishIds({b, a});
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().acked.load() >= 3; }, 10s));
  StopLogger();
  EXPECT_EQ(LoggedIds(), (std::vector<std::string>{a, b}));
}

TEST_F(EventLoggerRmqTest, SigtermOfBinaryExitsZeroWithEveryAckedEventOnDisk) {
  const int port = FreePort();
  const fs::path stderr_path = dir_.string() + ".stderr";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setenv("QUEUE_PREFIX", prefix_.c_str(), 1);
    ::setenv("AUDIT_LOG_DIR", dir_.c_str(), 1);
    ::setenv("EVENT_LOGGER_PREFETCH", "50", 1);
    ::setenv("HEALTH_ADDR", "127.0.0.1", 1);
    ::setenv("HEALTH_PORT", std::to_string(port).c_str(), 1);
    if (std::freopen(stderr_path.c_str(), "w", stderr) == nullptr) ::_exit(126);
    ::execl(CHANSUM_EVENT_LOGGER_BIN, CHANSUM_EVENT_LOGGER_BIN, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto child_log = [&] {
    std::ifstream in(stderr_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  httplib::Client health("127.0.0.1", port);
  const bool ready = WaitUntil(
      [&] {
        auto res = health.Get("/readyz");
        return res && res->status == 200;
      },
      20s);
  if (!ready) ::kill(pid, SIGKILL);
  ASSERT_TRUE(ready) << "binary never ready:\n" << child_log();
  auto healthz = health.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);

  std::vector<std::string> ids;
  for (int i = 0; i < 2000; ++i) ids.push_back(NewUuid());
  PublishIds(ids);
  // SIGTERM while it is still working through the queue.
  WaitUntil([&] { return LoggedIds().size() >= 100; }, 10s);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  pid_t done = 0;
  WaitUntil([&] { return (done = ::waitpid(pid, &status, WNOHANG)) == pid; }, 15s);
  if (done != pid) ::kill(pid, SIGKILL), ::waitpid(pid, &status, 0);
  ASSERT_EQ(done, pid) << "no exit within 15 s after SIGTERM:\n" << child_log();
  ASSERT_TRUE(WIFEXITED(status)) << child_log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << child_log();
  EXPECT_NE(child_log().find("stopped cleanly"), std::string::npos) << child_log();

  // Acked ⇒ on disk: whatever left the queue is in the file, once.
  const auto logged = LoggedIds();
  const std::set<std::string> logged_set(logged.begin(), logged.end());
  EXPECT_EQ(logged_set.size(), logged.size()) << "duplicate lines";
  std::set<std::string> remaining;
  for (const auto& body : Drain(config_.Queue())) {
    auto id = ExtractEventId(body);
    ASSERT_TRUE(id.has_value());
    remaining.insert(*id);
  }
  std::size_t missing = 0;
  for (const auto& id : ids) {
    if (!logged_set.contains(id) && !remaining.contains(id)) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "acked but not in the audit log";
  for (const auto& id : logged) EXPECT_TRUE(std::find(ids.begin(), ids.end(), id) != ids.end());
  std::cout << "SIGTERM after " << logged.size() << " of " << ids.size() << " events logged, "
            << remaining.size() << " left in the queue\n";
  std::error_code ec;
  if (!HasFailure()) fs::remove(stderr_path, ec);
}

// The fanout reaches only the queues bound and accepting when it is routed: an event the audit
// queue never got (here: sent to Kafka only, as the outbox's Kafka relay does while the RabbitMQ
// relay cannot deliver it) is still written, once, from the Kafka event topics.
TEST_F(EventLoggerRmqTest, EventsTheFanoutMissedAreTakenFromKafka) {
  const char* brokers = std::getenv("KAFKA_BROKERS");
  ASSERT_NE(brokers, nullptr) << "KAFKA_BROKERS is not set: run eval \"$(deploy/local/stack env)\"";
  config_.backfill.kafka.brokers = brokers;
  config_.backfill.kafka.extra["topic.metadata.refresh.interval.ms"] = "1000";
  config_.backfill.group_id = prefix_ + "event-logger-backfill";
  config_.backfill.topics = protocol::EventTopics(prefix_);
  config_.backfill.delay = 500ms;
  ASSERT_TRUE(kafka::CreateTopics(config_.backfill.kafka, config_.backfill.topics, 2, 1).ok());
  struct DropTopics {
    const BackfillConfig& c;
    ~DropTopics() { (void)kafka::DeleteTopics(c.kafka, c.topics); }
  } drop{config_.backfill};

  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(NewUuid());
  StartLogger();
  // The first ten come through the fanout as usual.
  PublishIds(std::vector<std::string>(ids.begin(), ids.begin() + 10));
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().acked.load() >= 10; }, 10s));
  // All thirty reach Kafka; the last twenty never reach the fanout.
  auto producer = kafka::Producer::Create(config_.backfill.kafka);
  ASSERT_TRUE(producer.ok()) << producer.error().ToString();
  const std::string topic = protocol::EventTopic(prefix_, protocol::EventType::kVideoDownloaded);
  for (const auto& id : ids) {
    ASSERT_TRUE((*producer)->Produce(topic, id, EventBody(id), nullptr).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10s).ok());
  ASSERT_TRUE(WaitUntil([&] { return logger_->stats().backfilled.load() >= 20; }, 40s))
      << "backfilled " << logger_->stats().backfilled.load();
  StopLogger();
  EXPECT_EQ(logger_->stats().backfilled.load(), 20u);
  auto logged = LoggedIds();
  EXPECT_EQ(logged.size(), 30u) << "each event once";
  std::sort(logged.begin(), logged.end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(logged, ids);

  // The offsets were committed after the fsync: a restarted logger takes nothing again.
  StartLogger();
  std::this_thread::sleep_for(3s);
  StopLogger();
  EXPECT_EQ(logger_->stats().backfilled.load(), 0u);
  EXPECT_EQ(LoggedIds().size(), 30u);
}

}  // namespace
}  // namespace chansum::event_logger
