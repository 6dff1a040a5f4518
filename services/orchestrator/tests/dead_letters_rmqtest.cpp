// The dead-letter consumer against the stack's RabbitMQ and PostgreSQL (private schema): a command
// that exhausts x-delivery-limit is dead-lettered by the broker into <queue>.dlq, the
// orchestrator's DeadLetterLoop records it with the broker's reason, fails the video
// (dead_lettered), finishes the job and acks it; a malformed message in a .dlq is recorded too.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "chansum/amqp/consumer.hpp"
#include "chansum/amqp/publisher.hpp"
#include "chansum/common/ids.hpp"
#include "chansum/store/store.hpp"
#include "chansum/testing/pg_schema.hpp"
#include "chansum/testing/support.hpp"
#include "src/reliability.hpp"

namespace chansum::orchestrator {
namespace {

using namespace std::chrono_literals;
using protocol::Stage;

class DeadLetterConsumerTest : public testing::SchemaFixture {
 protected:
  void SetUp() override {
    SchemaFixture::SetUp();
    if (HasFatalFailure()) return;
    const char* url = std::getenv("AMQP_URL");
    ASSERT_TRUE(url && *url) << "AMQP_URL is not set: eval \"$(deploy/local/stack env)\"";
    auto parsed = amqp::ParseAmqpUrl(url);
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    amqp_ = *parsed;
    amqp_.url = url;
    config_.queue_prefix = "dlqtest-" + testing::RandomName() + ".";
    job_id_ = NewUuid();
    pqxx::work txn(*conn_);
    store::NewJob job;
    job.id = job_id_;
    job.channel = "@demo";
    job.channel_url = "http://127.0.0.1:1/feed.xml";
    job.trace_id = "t";
    store::InsertJob(txn, job);
    store::RecordDiscovery(txn, job_id_, {{"poison", "P", "http://x/p", std::nullopt, "", ""}});
    txn.exec("UPDATE jobs SET state = 'running'");
    txn.commit();
    loop_ = std::thread(
        [this] { DeadLetterLoop(amqp_, pg_, config_, /*delivery_limit=*/1, stop_, ok_); });
    ASSERT_TRUE(chansum::testing::WaitFor([this] { return ok_.load(); }, 30s))
        << "the dead-letter consumers did not start";
  }

  void TearDown() override {
    stop_ = true;
    if (loop_.joinable()) loop_.join();
    // Remove this test's queues (declared by the loop).
    if (auto conn = amqp::Connection::Open(amqp_, "dlqtest-cleanup"); conn.ok()) {
      for (Stage s : protocol::kAllStages) {
        const auto q = protocol::QueueName(config_.queue_prefix, s);
        for (const auto& name : {q, q + ".retry", q + ".dlq"}) {
          amqp_queue_delete((*conn)->raw(), amqp::Connection::kChannel,
                            amqp_cstring_bytes(name.c_str()), 0, 0);
          (void)amqp_get_rpc_reply((*conn)->raw());
        }
      }
    }
    SchemaFixture::TearDown();
  }

  std::string Field(const std::string& sql) const {
    auto r = Query(sql);
    return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].as<std::string>();
  }

  amqp::AmqpConfig amqp_;
  ReliabilityConfig config_;
  std::string job_id_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ok_{false};
  std::thread loop_;
};

TEST_F(DeadLetterConsumerTest, DeliveryLimitDeadLetterIsRecordedAndFailsTheVideo) {
  const auto queue = protocol::QueueName(config_.queue_prefix, Stage::kDownload);
  auto cmd = protocol::NewCommand(Stage::kDownload, job_id_, "poison", "t", {{"url", "http://x"}});
  {
    auto pub = amqp::Publisher::Open(amqp_, "dlqtest-publisher");
    ASSERT_TRUE(pub.ok()) << pub.error().ToString();
    amqp::Message m;
    m.routing_key = queue;
    m.body = protocol::Serialize(cmd);
    m.message_id = cmd.message_id;
    m.mandatory = true;
    auto st = (*pub)->Publish(m);
    ASSERT_TRUE(st.ok()) << st.error().ToString();
  }
  // A consumer that fails it every time (nack + requeue) until the broker dead-letters it.
  {
    amqp::ConsumerOptions options;
    options.queue = queue;
    auto consumer = amqp::Consumer::Open(amqp_, "dlqtest-poison", options);
    ASSERT_TRUE(consumer.ok()) << consumer.error().ToString();
    int deliveries = 0;
    const auto until = std::chrono::steady_clock::now() + 20s;
    int quiet = 0;
    while (std::chrono::steady_clock::now() < until && quiet < 3) {
      auto d = (*consumer)->Next(500ms);
      ASSERT_TRUE(d.ok()) << d.error().ToString();
      if (!d->has_value()) {
        ++quiet;
        continue;
      }
      quiet = 0;
      ++deliveries;
      ASSERT_TRUE((*consumer)->Nack((**d).delivery_tag, /*requeue=*/true).ok());
    }
    EXPECT_GE(deliveries, 2) << "the broker should have redelivered it before the limit";
  }
  ASSERT_TRUE(chansum::testing::WaitFor(
      [&] { return Field("SELECT count(*) FROM dead_letters") == "1"; }, 30s))
      << "nothing recorded from " << queue << ".dlq";
  EXPECT_EQ(Field("SELECT queue FROM dead_letters"), queue + ".dlq");
  EXPECT_EQ(Field("SELECT reason FROM dead_letters").rfind("delivery_limit", 0), 0u)
      << Field("SELECT reason FROM dead_letters");
  EXPECT_EQ(Field("SELECT headers->>'x-first-death-queue' FROM dead_letters"), queue);
  EXPECT_EQ(Field("SELECT message_id FROM dead_letters"), cmd.message_id);
  EXPECT_EQ(Field("SELECT body FROM dead_letters"), protocol::Serialize(cmd));
  EXPECT_EQ(Field("SELECT state || '/' || error_class FROM videos WHERE video_id = 'poison'"),
            "failed/dead_lettered");
  EXPECT_EQ(Field("SELECT state FROM jobs WHERE id = '" + job_id_ + "'"), "completed_with_errors");

  // Acked: the DLQ is empty (a fresh consumer gets nothing).
  stop_ = true;
  loop_.join();
  amqp::ConsumerOptions options;
  options.queue = queue + ".dlq";
  auto check = amqp::Consumer::Open(amqp_, "dlqtest-check", options);
  ASSERT_TRUE(check.ok()) << check.error().ToString();
  auto left = (*check)->Next(1s);
  ASSERT_TRUE(left.ok());
  EXPECT_FALSE(left->has_value()) << "the recorded message is still in the DLQ";
}

TEST_F(DeadLetterConsumerTest, MalformedMessageInADlqIsRecordedWithItsReason) {
  const auto dlq = protocol::QueueName(config_.queue_prefix, Stage::kTranscription) + ".dlq";
  auto pub = amqp::Publisher::Open(amqp_, "dlqtest-publisher");
  ASSERT_TRUE(pub.ok()) << pub.error().ToString();
  amqp::Message m;
  m.routing_key = dlq;
  m.body = "{not json";
  m.message_id = "dlq-123";
  m.mandatory = true;
  m.headers["x-chansum-reason"] = std::string("command is not valid JSON");
  m.headers["x-chansum-stage"] = std::string("transcription");
  ASSERT_TRUE((*pub)->Publish(m).ok());
  ASSERT_TRUE(chansum::testing::WaitFor(
      [&] { return Field("SELECT count(*) FROM dead_letters") == "1"; }, 30s));
  EXPECT_EQ(Field("SELECT reason FROM dead_letters"), "malformed: command is not valid JSON");
  EXPECT_EQ(Field("SELECT stage FROM dead_letters"), "transcription");
  EXPECT_EQ(Field("SELECT body FROM dead_letters"), "{not json");
  EXPECT_EQ(Field("SELECT state FROM videos WHERE video_id = 'poison'"), "pending");
}

}  // namespace
}  // namespace chansum::orchestrator
