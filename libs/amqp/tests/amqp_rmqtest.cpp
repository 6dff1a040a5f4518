// Integration tests against the local stack's RabbitMQ: eval "$(deploy/local/stack env)" first.
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "chansum/testing/rabbitmq.hpp"

#include "chansum/amqp/config.hpp"
#include "chansum/amqp/connection.hpp"
#include "chansum/amqp/consumer.hpp"
#include "chansum/amqp/publisher.hpp"
#include "chansum/amqp/topology.hpp"
#include "chansum/common/ids.hpp"

namespace chansum::amqp {
namespace {

using namespace std::chrono_literals;

// Runs a command, returns its stdout (empty on failure).
using chansum::testing::ForceCloseConnection;
using chansum::testing::RabbitmqctlCommand;
using chansum::testing::RunShell;

class AmqpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("AMQP_URL");
    ASSERT_TRUE(url != nullptr && *url != '\0')
        << "AMQP_URL is not set: start the stack and run eval \"$(deploy/local/stack env)\"";
    auto parsed = ParseAmqpUrl(url);
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    config_ = *parsed;
    config_.rpc_timeout = 10s;
    config_.heartbeat = 10s;
    queue_ = "amqptest." +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "." +
             NewUuid().substr(0, 8);
    auto admin = Connection::Open(config_, "amqptest-admin");
    ASSERT_TRUE(admin.ok()) << admin.error().ToString();
    admin_ = std::move(admin).value();
  }

  void TearDown() override {
    // The test may have killed admin_; clean up on a fresh connection.
    auto conn = Connection::Open(config_, "amqptest-cleanup");
    if (!conn.ok()) return;
    for (const auto& q : {queue_, RetryQueueName(queue_), DeadLetterQueueName(queue_)}) {
      (void)DeleteQueue(**conn, q);
    }
    for (const auto& q : extra_queues_) (void)DeleteQueue(**conn, q);
    for (const auto& x : extra_exchanges_) (void)DeleteExchange(**conn, x);
  }

  std::unique_ptr<Publisher> OpenPublisher(const std::string& name = "amqptest-pub") {
    auto pub = Publisher::Open(config_, name);
    EXPECT_TRUE(pub.ok()) << pub.error().ToString();
    return pub.ok() ? std::move(pub).value() : nullptr;
  }

  std::unique_ptr<Consumer> OpenConsumer(const std::string& queue, std::uint16_t prefetch,
                                         const std::string& name = "amqptest-consumer") {
    ConsumerOptions options;
    options.queue = queue;
    options.prefetch = prefetch;
    auto c = Consumer::Open(config_, name, options);
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  Message Command(const std::string& routing_key, const std::string& id) {
    Message m;
    m.routing_key = routing_key;
    m.message_id = id;
    m.body = R"({"message_id":")" + id + R"("})";
    m.mandatory = true;
    return m;
  }

  // Waits for the next delivery, failing the test when none comes within `timeout`.
  static std::optional<Delivery> MustNext(Consumer& c, std::chrono::milliseconds timeout = 5s) {
    auto d = c.Next(timeout);
    EXPECT_TRUE(d.ok()) << d.error().ToString();
    if (!d.ok()) return std::nullopt;
    EXPECT_TRUE(d->has_value()) << "no delivery within " << timeout.count() << " ms";
    return std::move(d).value();
  }

  AmqpConfig config_;
  std::string queue_;
  std::unique_ptr<Connection> admin_;
  std::vector<std::string> extra_queues_;
  std::vector<std::string> extra_exchanges_;
};

TEST_F(AmqpTest, PublishWithConfirmThenConsumeAndAckRoundTrips) {
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok()) << "declaring again must be a no-op";
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  Message m = Command(queue_, "msg-" + NewUuid());
  m.body = R"({"type":"download.v1","video_id":"abc"})";
  m.headers = {{"trace_id", std::string("t-123")}, {"attempt", std::int64_t{3}}};
  ASSERT_TRUE(pub->Publish(m).ok());
  EXPECT_EQ(pub->confirmed(), 1u);

  auto consumer = OpenConsumer(queue_, 1);
  ASSERT_TRUE(consumer);
  auto d = MustNext(*consumer);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->body, m.body);
  EXPECT_EQ(d->message_id, m.message_id);
  EXPECT_EQ(d->content_type, "application/json");
  EXPECT_EQ(d->routing_key, queue_);
  EXPECT_EQ(d->exchange, "");
  EXPECT_FALSE(d->redelivered);
  EXPECT_EQ(HeaderString(d->headers, "trace_id"), "t-123");
  EXPECT_EQ(HeaderInt(d->headers, "attempt"), 3);
  ASSERT_TRUE(consumer->Ack(d->delivery_tag).ok());

  auto none = consumer->Next(300ms);
  ASSERT_TRUE(none.ok()) << none.error().ToString();
  EXPECT_FALSE(none->has_value());
  consumer.reset();  // an acked message must not come back when the consumer goes away
  auto again = OpenConsumer(queue_, 1);
  ASSERT_TRUE(again);
  auto after = again->Next(500ms);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value()) << "acked message was delivered again";
}

TEST_F(AmqpTest, UnackedMessageIsRedeliveredAfterConsumerCloses) {
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  const std::string id = "msg-" + NewUuid();
  ASSERT_TRUE(pub->Publish(Command(queue_, id)).ok());

  auto first = OpenConsumer(queue_, 1);
  ASSERT_TRUE(first);
  auto d1 = MustNext(*first);
  ASSERT_TRUE(d1);
  EXPECT_FALSE(d1->redelivered);
  EXPECT_EQ(d1->delivery_count(), 0);
  first.reset();  // closes the connection without acking

  auto second = OpenConsumer(queue_, 1);
  ASSERT_TRUE(second);
  auto d2 = MustNext(*second);
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->message_id, id);
  EXPECT_TRUE(d2->redelivered);
  EXPECT_GE(d2->delivery_count(), 1) << "quorum queues count deliveries in x-delivery-count";
  ASSERT_TRUE(second->Ack(d2->delivery_tag).ok());
}

TEST_F(AmqpTest, PrefetchBoundsUnackedDeliveriesAndMultipleAckReleasesMore) {
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  std::vector<Message> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Command(queue_, "m" + std::to_string(i)));
  ASSERT_TRUE(pub->PublishBatch(batch).ok());

  auto consumer = OpenConsumer(queue_, 3);
  ASSERT_TRUE(consumer);
  std::vector<Delivery> got;
  for (;;) {
    auto d = consumer->Next(700ms);
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    if (!d->has_value()) break;
    got.push_back(std::move(**d));
  }
  ASSERT_EQ(got.size(), 3u) << "prefetch=3 must hand out exactly 3 unacked deliveries";
  ASSERT_TRUE(consumer->Ack(got.back().delivery_tag, /*multiple=*/true).ok());
  std::size_t more = 0;
  for (;;) {
    auto d = consumer->Next(700ms);
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    if (!d->has_value()) break;
    ++more;
  }
  EXPECT_EQ(more, 3u) << "acking 3 at once (multiple) frees exactly 3 slots";
}

TEST_F(AmqpTest, BatchOf500IsConfirmedAndFullyConsumed) {
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  std::vector<Message> batch;
  std::set<std::string> ids;
  for (int i = 0; i < 500; ++i) {
    batch.push_back(Command(queue_, "b" + std::to_string(i)));
    batch.back().headers = {{"seq", std::int64_t{i}}};
    ids.insert(batch.back().message_id);
  }
  std::vector<PublishOutcome> outcomes;
  auto st = pub->PublishBatch(batch, &outcomes);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  ASSERT_EQ(outcomes.size(), 500u);
  for (auto o : outcomes) ASSERT_EQ(o, PublishOutcome::kConfirmed);
  EXPECT_EQ(pub->confirmed(), 500u);
  // The publisher stays usable for the next batch.
  ASSERT_TRUE(pub->Publish(Command(queue_, "b500")).ok());
  ids.insert("b500");

  auto stats = InspectQueue(*admin_, queue_);
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->messages, 501u);

  auto consumer = OpenConsumer(queue_, 100);
  ASSERT_TRUE(consumer);
  std::set<std::string> seen;
  std::size_t since_ack = 0;
  std::uint64_t last_tag = 0;
  while (seen.size() < ids.size()) {
    auto d = MustNext(*consumer);
    ASSERT_TRUE(d);
    EXPECT_TRUE(seen.insert(d->message_id).second) << "duplicate " << d->message_id;
    last_tag = d->delivery_tag;
    if (++since_ack == 50) {
      ASSERT_TRUE(consumer->Ack(last_tag, true).ok());
      since_ack = 0;
    }
  }
  ASSERT_TRUE(consumer->Ack(last_tag, true).ok());
  EXPECT_EQ(seen, ids);
  consumer.reset();
  auto after = InspectQueue(*admin_, queue_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->messages, 0u) << "every message was acked";
}

TEST_F(AmqpTest, MessageRejectedBeyondDeliveryLimitLandsInDlq) {
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 2).ok());
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  const std::string id = "poison-" + NewUuid();
  ASSERT_TRUE(pub->Publish(Command(queue_, id)).ok());

  auto consumer = OpenConsumer(queue_, 1);
  ASSERT_TRUE(consumer);
  int deliveries = 0;
  for (;;) {
    auto d = consumer->Next(1500ms);
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    if (!d->has_value()) break;
    ASSERT_EQ((*d)->message_id, id);
    ++deliveries;
    ASSERT_LE(deliveries, 10) << "delivery limit not enforced";
    ASSERT_TRUE(consumer->Reject((*d)->delivery_tag, /*requeue=*/true).ok());
  }
  EXPECT_EQ(deliveries, 3) << "limit 2: the first delivery plus two redeliveries";

  auto dlq = OpenConsumer(DeadLetterQueueName(queue_), 1, "amqptest-dlq");
  ASSERT_TRUE(dlq);
  auto dead = MustNext(*dlq);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->message_id, id);
  EXPECT_EQ(dead->body, Command(queue_, id).body);
  ASSERT_TRUE(dlq->Ack(dead->delivery_tag).ok());
}

TEST_F(AmqpTest, RetryQueueReturnsMessageAfterExpiration) {
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  auto consumer = OpenConsumer(queue_, 1);
  ASSERT_TRUE(consumer);

  Message retry = Command(RetryQueueName(queue_), "retry-" + NewUuid());
  retry.headers = {{"attempt", std::int64_t{2}}};
  retry.expiration = 200ms;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(pub->Publish(retry).ok());
  auto d = MustNext(*consumer, 5s);
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message_id, retry.message_id);
  EXPECT_EQ(d->body, retry.body);
  EXPECT_EQ(HeaderInt(d->headers, "attempt"), 2);
  EXPECT_EQ(d->routing_key, queue_) << "dead-lettered back to the stage queue";
  EXPECT_GE(waited, 180ms) << "came back before its expiration";
  EXPECT_LT(waited, 3s);
  ASSERT_TRUE(consumer->Ack(d->delivery_tag).ok());
}

TEST_F(AmqpTest, PublishingToMissingExchangeIsAnErrorAndBreaksThePublisher) {
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  Message m = Command("anything", "x-" + NewUuid());
  m.exchange = "amqptest.no-such-exchange." + NewUuid();
  std::vector<PublishOutcome> outcomes;
  auto st = pub->PublishBatch(std::vector<Message>{m}, &outcomes);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "amqp_channel_closed");
  EXPECT_NE(st.error().message.find("404"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find(m.exchange), std::string::npos) << st.error().message;
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0], PublishOutcome::kUnconfirmed);
  EXPECT_FALSE(pub->ok());
  auto again = pub->Publish(Command("anything", "y"));
  EXPECT_FALSE(again.ok()) << "a broken publisher must keep failing";
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  auto fresh = OpenPublisher("amqptest-pub2");
  ASSERT_TRUE(fresh);
  auto ok = fresh->Publish(Command(queue_, "z"));
  EXPECT_TRUE(ok.ok()) << "a fresh publisher works: " << ok.error().ToString();
}

TEST_F(AmqpTest, UnroutableMandatoryMessageIsReturnedAsError) {
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  std::vector<Message> batch{Command(queue_, "ok-1"),
                             Command("amqptest.no-such-queue." + NewUuid(), "lost-1"),
                             Command(queue_, "ok-2")};
  std::vector<PublishOutcome> outcomes;
  auto st = pub->PublishBatch(batch, &outcomes);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "amqp_returned");
  EXPECT_NE(st.error().message.find("NO_ROUTE"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("lost-1"), std::string::npos) << st.error().message;
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[0], PublishOutcome::kConfirmed);
  EXPECT_EQ(outcomes[1], PublishOutcome::kReturned);
  EXPECT_EQ(outcomes[2], PublishOutcome::kConfirmed);
  EXPECT_FALSE(pub->ok());
}

TEST_F(AmqpTest, NackFromFullQueueIsAnErrorNamingTheMessages) {
  QueueOptions full;
  full.arguments = {{"x-max-length", std::int64_t{1}},
                    {"x-overflow", std::string("reject-publish")}};
  ASSERT_TRUE(DeclareQueue(*admin_, queue_, full).ok());
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  std::vector<Message> batch{Command(queue_, "n0"), Command(queue_, "n1"), Command(queue_, "n2")};
  std::vector<PublishOutcome> outcomes;
  auto st = pub->PublishBatch(batch, &outcomes);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "amqp_nack");
  EXPECT_TRUE(st.error().transient());
  EXPECT_NE(st.error().message.find("'n1'"), std::string::npos) << st.error().message;
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[0], PublishOutcome::kConfirmed);
  EXPECT_EQ(outcomes[1], PublishOutcome::kNacked);
  EXPECT_EQ(outcomes[2], PublishOutcome::kNacked);
}

TEST_F(AmqpTest, DeletingTheQueueCancelsTheConsumerWithAnError) {
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  auto consumer = OpenConsumer(queue_, 1);
  ASSERT_TRUE(consumer);
  auto none = consumer->Next(100ms);
  ASSERT_TRUE(none.ok());
  ASSERT_TRUE(DeleteQueue(*admin_, queue_).ok());
  auto d = consumer->Next(5s);
  ASSERT_FALSE(d.ok()) << "a cancelled consumer must not look idle";
  EXPECT_EQ(d.error().code, "amqp_consumer_cancelled");
  EXPECT_FALSE(consumer->ok());
}

TEST_F(AmqpTest, FanoutDeliversToEveryBoundQueue) {
  const std::string exchange = queue_ + ".events";
  const std::string q1 = queue_ + ".sub1";
  const std::string q2 = queue_ + ".sub2";
  extra_exchanges_ = {exchange};
  extra_queues_ = {q1, q2};
  ASSERT_TRUE(DeclareFanout(*admin_, exchange).ok());
  ASSERT_TRUE(DeclareFanout(*admin_, exchange).ok());
  for (const auto& q : {q1, q2}) {
    ASSERT_TRUE(DeclareQueue(*admin_, q).ok());
    ASSERT_TRUE(BindQueue(*admin_, q, exchange).ok());
  }
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  Message event = Command("video.discovered", "e-" + NewUuid());
  event.exchange = exchange;
  ASSERT_TRUE(pub->Publish(event).ok());
  for (const auto& q : {q1, q2}) {
    auto c = OpenConsumer(q, 1);
    ASSERT_TRUE(c);
    auto d = MustNext(*c);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->message_id, event.message_id);
    EXPECT_EQ(d->exchange, exchange);
    EXPECT_EQ(d->routing_key, "video.discovered");
    ASSERT_TRUE(c->Ack(d->delivery_tag).ok());
  }
}

TEST_F(AmqpTest, WrongPasswordIsAPermanentErrorWithoutThePassword) {
  AmqpConfig bad = config_;
  bad.password = "definitely-wrong-" + NewUuid().substr(0, 6);
  bad.url.clear();
  auto conn = Connection::Open(bad, "amqptest-badlogin");
  ASSERT_FALSE(conn.ok());
  EXPECT_FALSE(conn.error().transient()) << conn.error().ToString();
  EXPECT_EQ(conn.error().message.find(bad.password), std::string::npos);
}

TEST_F(AmqpTest, UnreachableBrokerIsATransientError) {
  AmqpConfig closed = config_;
  closed.port = 1;  // nothing listens on 127.0.0.1:1
  closed.host = "127.0.0.1";
  closed.url.clear();
  const auto start = std::chrono::steady_clock::now();
  auto conn = Connection::Open(closed, "amqptest-unreachable");
  ASSERT_FALSE(conn.ok());
  EXPECT_TRUE(conn.error().transient()) << conn.error().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 6s);
}

TEST_F(AmqpTest, ConnectionClosedByTheBrokerMakesNextOperationFailAndFreshOnesWork) {
  const std::string rabbitmqctl = RabbitmqctlCommand();
  ASSERT_FALSE(rabbitmqctl.empty())
      << "cannot find the stack's RabbitMQ node (CHANSUM_RUN_DIR from deploy/local/stack env)";
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  // rabbitmqctl calls take seconds each (far more on a loaded machine) while this thread does
  // not pump the connections: without heartbeats the broker cannot drop them meanwhile, so the
  // only close they see is the forced one under test.
  config_.heartbeat = 0s;
  const std::string suffix = NewUuid().substr(0, 8);
  auto pub = OpenPublisher("amqptest-kill-pub-" + suffix);
  ASSERT_TRUE(pub);
  ASSERT_TRUE(pub->Publish(Command(queue_, "before")).ok());
  auto consumer = OpenConsumer(queue_, 1, "amqptest-kill-consumer-" + suffix);
  ASSERT_TRUE(consumer);
  auto d0 = MustNext(*consumer);
  ASSERT_TRUE(d0);  // held unacked across the kill

  ASSERT_TRUE(ForceCloseConnection(rabbitmqctl, "amqptest-kill-pub-" + suffix))
      << "no connection named amqptest-kill-pub-" << suffix << " in:\n"
      << RunShell(rabbitmqctl + " list_connections pid client_properties 2>&1");
  ASSERT_TRUE(ForceCloseConnection(rabbitmqctl, "amqptest-kill-consumer-" + suffix));

  auto st = pub->Publish(Command(queue_, "during"));
  ASSERT_FALSE(st.ok()) << "publish on a connection the broker closed must fail";
  EXPECT_TRUE(st.error().transient()) << st.error().ToString();
  EXPECT_NE(st.error().message.find("CONNECTION_FORCED"), std::string::npos) << st.error().message;
  EXPECT_FALSE(pub->ok());
  auto d = consumer->Next(5s);
  ASSERT_FALSE(d.ok()) << "consumer on a connection the broker closed must fail, not idle";
  EXPECT_TRUE(d.error().transient()) << d.error().ToString();
  EXPECT_NE(d.error().message.find("320"), std::string::npos) << d.error().message;
  EXPECT_FALSE(consumer->ok());
  EXPECT_FALSE(consumer->Ack(d0->delivery_tag).ok());

  // Fresh connections work, and the unacked message came back.
  auto pub2 = OpenPublisher("amqptest-kill-pub2-" + suffix);
  ASSERT_TRUE(pub2);
  ASSERT_TRUE(pub2->Publish(Command(queue_, "after")).ok());
  auto consumer2 = OpenConsumer(queue_, 10, "amqptest-kill-consumer2-" + suffix);
  ASSERT_TRUE(consumer2);
  std::set<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    auto di = MustNext(*consumer2);
    ASSERT_TRUE(di);
    ids.insert(di->message_id);
    ASSERT_TRUE(consumer2->Ack(di->delivery_tag).ok());
  }
  EXPECT_EQ(ids, (std::set<std::string>{"before", "after"}));
}

TEST_F(AmqpTest, LostSocketMakesNextOperationFailAndAFreshConnectionWorks) {
  ASSERT_TRUE(DeclareStageQueues(*admin_, queue_, 5).ok());
  auto pub = OpenPublisher();
  ASSERT_TRUE(pub);
  auto consumer = OpenConsumer(queue_, 1);
  ASSERT_TRUE(consumer);
  // Cut both TCP connections under librabbitmq, as a network failure would.
  ASSERT_EQ(::shutdown(pub->connection().socket_fd(), SHUT_RDWR), 0);
  ASSERT_EQ(::shutdown(consumer->connection().socket_fd(), SHUT_RDWR), 0);

  auto st = pub->Publish(Command(queue_, "lost"));
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.error().transient()) << st.error().ToString();
  EXPECT_FALSE(pub->ok());
  auto d = consumer->Next(2s);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(d.error().transient()) << d.error().ToString();
  EXPECT_FALSE(consumer->ok());
  EXPECT_FALSE(consumer->Ack(1).ok());

  auto pub2 = OpenPublisher("amqptest-pub-fresh");
  ASSERT_TRUE(pub2);
  ASSERT_TRUE(pub2->Publish(Command(queue_, "after")).ok());
  auto consumer2 = OpenConsumer(queue_, 1, "amqptest-consumer-fresh");
  ASSERT_TRUE(consumer2);
  auto d2 = MustNext(*consumer2);
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->message_id, "after");
}

}  // namespace
}  // namespace chansum::amqp
