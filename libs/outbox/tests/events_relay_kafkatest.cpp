// The outbox relay with the real AmqpSink and KafkaSink against the stack: events written with
// EnqueueEvent reach the Kafka topic "<prefix><type>" (keyed) and the fanout "<prefix>events"
// (routing key = type, message_id = event_id). Also: a broker that does not answer fails the
// batch and leaves the rows pending. Needs DATABASE_URL, AMQP_URL and KAFKA_BROKERS.
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "chansum/amqp/config.hpp"
#include "chansum/amqp/connection.hpp"
#include "chansum/amqp/consumer.hpp"
#include "chansum/amqp/topology.hpp"
#include "chansum/common/ids.hpp"
#include "chansum/kafka/admin.hpp"
#include "chansum/kafka/config.hpp"
#include "chansum/kafka/consumer.hpp"
#include "chansum/outbox/amqp_sink.hpp"
#include "chansum/outbox/events.hpp"
#include "chansum/outbox/kafka_sink.hpp"
#include "chansum/outbox/outbox.hpp"
#include "chansum/outbox/topology.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/store/store.hpp"

namespace chansum::outbox {
namespace {

using protocol::EventType;
using Clock = std::chrono::steady_clock;

std::string RandomName() {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 8; ++i) s += kChars[rd() % (sizeof(kChars) - 1)];
  return s;
}

class EventsRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* var : {"DATABASE_URL", "AMQP_URL", "KAFKA_BROKERS"}) {
      const char* v = std::getenv(var);
      if (v == nullptr || *v == '\0') {
        GTEST_FAIL() << var
                     << " is not set: start the stack and run "
                        "eval \"$(deploy/local/stack env)\" before the integration tests";
      }
    }
    ConfigReader env;
    pg_ = pg::PgConfig::FromEnv(env);
    amqp_ = amqp::AmqpConfig::FromEnv(env);
    kafka_ = kafka::KafkaConfig::FromEnv(env, "events-relay-test");
    env.Finish();
    prefix_ = "evtrelay-" + RandomName() + ".";
    // A private schema: the rows of this test are invisible to other relays on the stack.
    schema_ = "test_relay_" + RandomName();
    {
      auto admin = pg::Connect(pg_);
      ASSERT_TRUE(admin.ok()) << admin.error().ToString();
      pqxx::work txn(**admin);
      txn.exec0("CREATE SCHEMA " + txn.quote_name(schema_));
      txn.commit();
    }
    pg_.search_path = schema_;
    auto conn = pg::Connect(pg_);
    ASSERT_TRUE(conn.ok()) << conn.error().ToString();
    auto applied = store::Migrate(**conn);
    ASSERT_TRUE(applied.ok()) << applied.error().ToString();
  }

  void TearDown() override {
    if (!prefix_.empty()) {
      (void)kafka::DeleteTopics(kafka_, protocol::EventTopics(prefix_));
      if (auto c = amqp::Connection::Open(amqp_, "events-relay-test-cleanup"); c.ok()) {
        (void)amqp::DeleteQueue(**c, prefix_ + "tap");
        for (protocol::Stage s : protocol::kAllStages) {
          const auto q = protocol::QueueName(prefix_, s);
          for (const auto& name : {q, q + ".retry", q + ".dlq"}) (void)amqp::DeleteQueue(**c, name);
        }
        (void)amqp::DeleteExchange(**c, protocol::EventsExchange(prefix_));
      }
    }
    if (!schema_.empty()) {
      pg::PgConfig admin_config = pg_;
      admin_config.search_path.clear();
      if (auto admin = pg::Connect(admin_config); admin.ok()) {
        pqxx::work txn(**admin);
        txn.exec0("DROP SCHEMA IF EXISTS " + txn.quote_name(schema_) + " CASCADE");
        txn.commit();
      }
    }
  }

  std::function<std::unique_ptr<pqxx::connection>()> Connector() const {
    return [cfg = pg_]() -> std::unique_ptr<pqxx::connection> {
      auto c = pg::Connect(cfg);
      if (!c.ok()) throw std::runtime_error(c.error().message);
      return std::move(*c);
    };
  }

  std::vector<protocol::Event> WriteEvents(const std::string& job_id) {
    std::vector<protocol::Event> events = {
        protocol::NewEvent(EventType::kVideoDownloaded, job_id, "vid-1", "trace",
                           {{"duration_ms", 12}, {"bytes", 4096}}),
        protocol::NewEvent(EventType::kVideoFailed, job_id, "vid-2", "trace",
                           {{"stage", "download"},
                            {"error_class", "permanent"},
                            {"error_code", "video_unavailable"},
                            {"error_message", "gone"},
                            {"attempts", 1}}),
        protocol::NewEvent(EventType::kJobCompleted, job_id, "", "trace",
                           {{"state", "completed_with_errors"},
                            {"video_count", 2},
                            {"done", 1},
                            {"failed", 1},
                            {"duration_ms", 99}}),
    };
    auto conn = Connector()();
    pqxx::work txn(*conn);
    for (const auto& e : events) EnqueueEvent(txn, prefix_, e);
    txn.commit();
    return events;
  }

  std::int64_t Pending(const std::string& destination) const {
    auto conn = Connector()();
    pqxx::work txn(*conn);
    return txn
        .exec_params("SELECT count(*) FROM outbox WHERE published_at IS NULL AND destination = $1",
                     destination)[0][0]
        .as<std::int64_t>();
  }

  pg::PgConfig pg_;
  amqp::AmqpConfig amqp_;
  kafka::KafkaConfig kafka_;
  std::string prefix_;
  std::string schema_;
};

TEST_F(EventsRelayTest, EventsReachTheKafkaTopicsAndTheFanout) {
  // A queue bound to the fanout, as an event consumer would have it.
  {
    auto c = amqp::Connection::Open(amqp_, "events-relay-test");
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    ASSERT_TRUE(DeclareEventsExchange(**c, prefix_).ok());
    amqp::QueueOptions options;
    options.durable = false;
    ASSERT_TRUE(amqp::DeclareQueue(**c, prefix_ + "tap", options).ok());
    ASSERT_TRUE(amqp::BindQueue(**c, prefix_ + "tap", protocol::EventsExchange(prefix_)).ok());
  }
  const std::string job_id = NewUuid();
  const auto events = WriteEvents(job_id);
  ASSERT_EQ(Pending("kafka"), 3);
  ASSERT_EQ(Pending("amqp"), 3);

  KafkaSinkOptions kafka_options;
  kafka_options.topics = protocol::EventTopics(prefix_);
  auto kafka_sink = std::make_unique<KafkaSink>(kafka_, kafka_options);
  KafkaSink* kafka_view = kafka_sink.get();
  Relay relay(Connector(),
              std::make_unique<AmqpSink>(
                  amqp_, "events-relay-test-relay",
                  [this](amqp::Connection& c) { return DeclarePipelineQueues(c, prefix_, 10); }),
              std::move(kafka_sink), RelayOptions{});
  int published = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (published < 6 && Clock::now() < deadline) {
    auto n = relay.RelayOnce();
    if (!n.ok()) {
      ADD_FAILURE() << "relay: " << n.error().ToString();
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    published += *n;
  }
  ASSERT_EQ(published, 6);
  EXPECT_TRUE(kafka_view->topics_created());
  EXPECT_EQ(Pending("kafka"), 0);
  EXPECT_EQ(Pending("amqp"), 0);

  std::map<std::string, protocol::Event> by_id;
  for (const auto& e : events) by_id.emplace(e.event_id, e);

  // The fanout: one message per event, routing key = type, message_id = event_id.
  {
    amqp::ConsumerOptions options;
    options.queue = prefix_ + "tap";
    options.prefetch = 10;
    auto consumer = amqp::Consumer::Open(amqp_, "events-relay-test-tap", options);
    ASSERT_TRUE(consumer.ok()) << consumer.error().ToString();
    std::set<std::string> seen;
    const auto until = Clock::now() + std::chrono::seconds(20);
    while (seen.size() < 3 && Clock::now() < until) {
      auto d = (*consumer)->Next(std::chrono::milliseconds(200));
      ASSERT_TRUE(d.ok()) << d.error().ToString();
      if (!d->has_value()) continue;
      const auto& delivery = **d;
      auto parsed = protocol::ParseEvent(delivery.body);
      ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
      ASSERT_TRUE(by_id.contains(parsed->event_id));
      EXPECT_EQ(delivery.message_id, parsed->event_id);
      EXPECT_EQ(delivery.routing_key, protocol::EventTypeName(parsed->type));
      EXPECT_EQ(delivery.exchange, prefix_ + "events");
      EXPECT_EQ(protocol::ToJson(*parsed), protocol::ToJson(by_id.at(parsed->event_id)));
      seen.insert(parsed->event_id);
      ASSERT_TRUE((*consumer)->Ack(delivery.delivery_tag).ok());
    }
    EXPECT_EQ(seen.size(), 3u);
  }

  // Kafka: each event on its type's topic, keyed by video_id (job_id for job.completed).
  {
    kafka::ConsumerOptions options;
    options.group_id = prefix_ + "test";
    auto consumer = kafka::Consumer::Create(kafka_, options);
    ASSERT_TRUE(consumer.ok()) << consumer.error().ToString();
    ASSERT_TRUE((*consumer)
                    ->Subscribe({protocol::EventTopic(prefix_, EventType::kVideoDownloaded),
                                 protocol::EventTopic(prefix_, EventType::kVideoFailed),
                                 protocol::EventTopic(prefix_, EventType::kJobCompleted)})
                    .ok());
    std::set<std::string> seen;
    const auto until = Clock::now() + std::chrono::seconds(45);
    while (seen.size() < 3 && Clock::now() < until) {
      auto rec = (*consumer)->Poll(std::chrono::milliseconds(500));
      if (!rec.ok() || !rec->has_value()) continue;  // e.g. UNKNOWN_TOPIC right after creation
      const auto& r = **rec;
      auto parsed = protocol::ParseEvent(r.payload);
      ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
      ASSERT_TRUE(by_id.contains(parsed->event_id)) << r.payload;
      EXPECT_EQ(r.topic, protocol::EventTopic(prefix_, parsed->type));
      EXPECT_EQ(r.key, protocol::EventKey(*parsed));
      EXPECT_EQ(r.key, parsed->type == EventType::kJobCompleted ? job_id : parsed->video_id);
      EXPECT_GE(r.partition, 0);
      EXPECT_LT(r.partition, 3) << "topics have 3 partitions";
      EXPECT_EQ(protocol::ToJson(*parsed), protocol::ToJson(by_id.at(parsed->event_id)));
      seen.insert(parsed->event_id);
    }
    EXPECT_EQ(seen.size(), 3u) << "events found on Kafka";
  }
}

TEST_F(EventsRelayTest, UnreachableKafkaFailsTheBatchAndKeepsRowsPending) {
  (void)WriteEvents(NewUuid());
  kafka::KafkaConfig dead = kafka_;
  dead.brokers = "127.0.0.1:1";  // nothing listens there
  dead.message_timeout = std::chrono::milliseconds(1500);
  KafkaSinkOptions options;  // no topics to create: exercise the delivery reports
  options.report_margin = std::chrono::milliseconds(1000);
  Relay relay(Connector(), nullptr, std::make_unique<KafkaSink>(dead, options), RelayOptions{});
  const auto started = Clock::now();
  auto n = relay.RelayOnce();
  const auto took = Clock::now() - started;
  ASSERT_FALSE(n.ok()) << "published " << *n << " rows to a dead broker";
  EXPECT_TRUE(n.error().transient()) << n.error().ToString();
  EXPECT_LT(took, std::chrono::seconds(10)) << "bounded wait for the reports";
  EXPECT_EQ(Pending("kafka"), 3);
  auto conn = Connector()();
  pqxx::work txn(*conn);
  auto r = txn.exec(
      "SELECT min(publish_attempts), count(last_error) FROM outbox WHERE destination = 'kafka'");
  EXPECT_EQ(r[0][0].as<int>(), 1);
  EXPECT_EQ(r[0][1].as<int>(), 3);

  // Topic creation against the dead broker fails too (bounded), and the sink keeps retrying.
  KafkaSinkOptions with_topics;
  with_topics.topics = protocol::EventTopics(prefix_);
  KafkaSink sink(dead, with_topics);
  std::vector<Row> rows(1);
  rows[0].message.destination = Destination::kKafka;
  rows[0].message.exchange = protocol::EventTopic(prefix_, EventType::kJobCompleted);
  rows[0].message.routing_key = "k";
  rows[0].message.payload = "{}";
  std::vector<bool> delivered(rows.size(), false);
  auto st = sink.Publish(rows, delivered);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(delivered[0]);
  EXPECT_FALSE(sink.topics_created());
}

// A row the broker refuses (its queue does not exist) waits on its own backoff: the rows next to
// it are published once and marked, never republished with it, and the refused row stays pending
// with the reason until its queue appears.
TEST_F(EventsRelayTest, UnroutableRowDoesNotHoldBackOrDuplicateTheOthers) {
  const std::string good_queue = prefix_ + "tap";
  {
    auto c = amqp::Connection::Open(amqp_, "events-relay-test-setup");
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    ASSERT_TRUE(amqp::DeclareQueue(**c, good_queue).ok());
  }
  auto row = [&](const std::string& queue, const std::string& id) {
    Message m;
    m.destination = Destination::kAmqp;
    m.routing_key = queue;
    m.message_id = id;
    m.payload = "{\"id\":\"" + id + "\"}";
    return m;
  };
  {
    auto conn = Connector()();
    pqxx::work txn(*conn);
    Enqueue(txn, row(prefix_ + "missing-queue", "poison"));
    Enqueue(txn, row(good_queue, "good-1"));
    Enqueue(txn, row(good_queue, "good-2"));
    txn.commit();
  }
  Relay relay(Connector(), std::make_unique<AmqpSink>(amqp_, "poison-test"), nullptr, {});
  auto first = relay.RelayOnce();
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(*first, 2) << "the two routable rows go through";
  for (int i = 0; i < 3; ++i) {
    auto again = relay.RelayOnce();
    ASSERT_TRUE(again.ok()) << again.error().ToString();
    EXPECT_EQ(*again, 0) << "nothing is due: the refused row waits on its backoff";
  }
  {
    auto conn = Connector()();
    pqxx::work txn(*conn);
    auto r = txn.exec(
        "SELECT message_id, published_at IS NOT NULL, publish_attempts, coalesce(last_error, ''), "
        "next_attempt_at > now() FROM outbox ORDER BY id");
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0][0].as<std::string>(), "poison");
    EXPECT_FALSE(r[0][1].as<bool>()) << "never dropped: still pending";
    EXPECT_NE(r[0][3].as<std::string>().find("NO_ROUTE"), std::string::npos)
        << r[0][3].as<std::string>();
    EXPECT_TRUE(r[0][4].as<bool>());
    EXPECT_TRUE(r[1][1].as<bool>());
    EXPECT_TRUE(r[2][1].as<bool>());
    EXPECT_EQ(r[1][2].as<int>(), 1) << "published exactly once";
  }
  // The queue holds each good message exactly once.
  auto c = amqp::Connection::Open(amqp_, "events-relay-test-inspect");
  ASSERT_TRUE(c.ok());
  auto stats = amqp::InspectQueue(**c, good_queue);
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->messages, 2u);
}

}  // namespace
}  // namespace chansum::outbox
