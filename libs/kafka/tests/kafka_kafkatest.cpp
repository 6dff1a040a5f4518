// Integration tests against a real Kafka broker: KAFKA_BROKERS from
// `eval "$(deploy/local/stack env)"`. Each test uses its own topics and groups.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "chansum/common/ids.hpp"
#include "chansum/kafka/admin.hpp"
#include "chansum/kafka/config.hpp"
#include "chansum/kafka/consumer.hpp"
#include "chansum/kafka/producer.hpp"

namespace chansum::kafka {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Consumer::Poll, tolerating the transient "unknown topic" a group member may see for a topic
// created a moment ago (metadata still propagating). Any other error fails the test.
Result<std::optional<Record>> PollOne(Consumer& c, std::chrono::milliseconds timeout) {
  auto r = c.Poll(timeout);
  if (!r.ok() && r.error().code == "UNKNOWN_TOPIC_OR_PART") return std::optional<Record>{};
  return r;
}

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* brokers = std::getenv("KAFKA_BROKERS");
    if (brokers == nullptr || *brokers == '\0') {
      GTEST_FAIL() << "KAFKA_BROKERS is not set: start the stack and run "
                      "eval \"$(deploy/local/stack env)\"";
    }
    config_.brokers = brokers;
    config_.client_id = "kafka_kafkatest";
    config_.message_timeout = 30s;
  }
  void TearDown() override {
    if (!topics_.empty()) {
      auto s = DeleteTopics(config_, topics_);
      if (!s.ok()) std::fprintf(stderr, "cleanup: %s\n", s.error().ToString().c_str());
    }
  }

  std::string NewTopic(int partitions) {
    std::string topic = "test.kafka." + NewUuid().substr(0, 8);
    auto s = CreateTopics(config_, {topic}, partitions, 1);
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    topics_.push_back(topic);
    return topic;
  }

  std::unique_ptr<Consumer> NewConsumer(const std::string& group, const std::string& topic) {
    auto c = Consumer::Create(config_, ConsumerOptions{group, "earliest", 10s});
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    if (!c.ok()) return nullptr;
    auto s = (*c)->Subscribe({topic});
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return std::move(*c);
  }

  KafkaConfig config_;
  std::vector<std::string> topics_;
};

TEST_F(KafkaTest, CreateTopicsIsIdempotent) {
  const std::string topic = NewTopic(3);
  auto again = CreateTopics(config_, {topic}, 3, 1);
  EXPECT_TRUE(again.ok()) << again.error().ToString();
  auto bad = CreateTopics(config_, {"test.kafka.too-many-replicas"}, 1, 3);  // one broker only
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(bad.error().transient()) << bad.error().ToString();
}

TEST_F(KafkaTest, GroupReadsEveryMessageOnceAndCommitsSurviveAClose) {
  constexpr int kCount = 200;
  const std::string topic = NewTopic(3);
  const std::string group = "test.group." + NewUuid().substr(0, 8);

  // Produce N keyed messages; every delivery report must say persisted.
  std::mutex mu;
  std::map<std::string, int> partition_of_key;
  std::atomic<int> persisted{0};
  std::atomic<int> failed{0};
  {
    auto producer = Producer::Create(config_);
    ASSERT_TRUE(producer.ok()) << producer.error().ToString();
    for (int i = 0; i < kCount; ++i) {
      const std::string key = "video-" + std::to_string(i);
      auto s = (*producer)->Produce(topic, key, "payload-" + std::to_string(i),
                                    [&](const DeliveryReport& r) {
                                      if (r.persisted()) {
                                        EXPECT_GE(r.offset, 0);
                                        std::lock_guard lock(mu);
                                        partition_of_key[r.key] = r.partition;
                                        ++persisted;
                                      } else {
                                        ADD_FAILURE() << r.status.error().ToString();
                                        ++failed;
                                      }
                                    });
      ASSERT_TRUE(s.ok()) << s.error().ToString();
    }
    auto flushed = (*producer)->Flush(30s);
    ASSERT_TRUE(flushed.ok()) << flushed.error().ToString();
    EXPECT_EQ((*producer)->OutstandingCount(), 0);
  }
  ASSERT_EQ(persisted.load(), kCount);
  ASSERT_EQ(failed.load(), 0);
  std::set<int> used_partitions;
  for (const auto& [key, partition] : partition_of_key) used_partitions.insert(partition);
  EXPECT_EQ(used_partitions.size(), 3u) << "200 keys should spread over all 3 partitions";

  // First member reads exactly those N, each once, and commits each.
  {
    auto consumer = NewConsumer(group, topic);
    ASSERT_NE(consumer, nullptr);
    std::map<std::string, int> seen;
    const auto deadline = Clock::now() + 60s;
    while (static_cast<int>(seen.size()) < kCount && Clock::now() < deadline) {
      auto rec = PollOne(*consumer, 500ms);
      ASSERT_TRUE(rec.ok()) << rec.error().ToString();
      if (!rec->has_value()) continue;
      const Record& r = **rec;
      EXPECT_EQ(r.topic, topic);
      EXPECT_EQ(r.payload, "payload-" + r.key.substr(std::string("video-").size()));
      EXPECT_EQ(r.partition, partition_of_key[r.key]) << "key " << r.key;
      EXPECT_GT(r.timestamp_ms, 0);
      ++seen[r.key];
      auto c = consumer->Commit(r);
      ASSERT_TRUE(c.ok()) << c.error().ToString();
    }
    // Nothing extra (no duplicates) shows up afterwards.
    const auto quiet_until = Clock::now() + 2s;
    while (Clock::now() < quiet_until) {
      auto rec = PollOne(*consumer, 200ms);
      ASSERT_TRUE(rec.ok()) << rec.error().ToString();
      if (rec->has_value()) ++seen[(*rec)->key];
    }
    EXPECT_EQ(static_cast<int>(seen.size()), kCount);
    for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key << " delivered " << n << " times";
    EXPECT_EQ(consumer->Assignment().size(), 3u);
    ASSERT_TRUE(consumer->CommitAll().ok());
    ASSERT_TRUE(consumer->Close().ok());
    EXPECT_TRUE(consumer->Assignment().empty());
  }

  // A second member of the SAME group resumes after the commits: no old record comes back,
  // and a new record does arrive (so it really is consuming).
  auto second = NewConsumer(group, topic);
  ASSERT_NE(second, nullptr);
  auto deadline = Clock::now() + 30s;
  while (second->Assignment().size() < 3 && Clock::now() < deadline) {
    auto rec = PollOne(*second, 200ms);
    ASSERT_TRUE(rec.ok()) << rec.error().ToString();
    ASSERT_FALSE(rec->has_value()) << "old record redelivered: " << (*rec)->key;
  }
  ASSERT_EQ(second->Assignment().size(), 3u);
  const auto quiet_until = Clock::now() + 3s;
  while (Clock::now() < quiet_until) {
    auto rec = PollOne(*second, 200ms);
    ASSERT_TRUE(rec.ok()) << rec.error().ToString();
    ASSERT_FALSE(rec->has_value()) << "old record redelivered: " << (*rec)->key;
  }
  {
    auto producer = Producer::Create(config_);
    ASSERT_TRUE(producer.ok());
    auto s = (*producer)->ProduceSync(topic, "video-new", "fresh", 30s, {{"trace_id", "t-1"}});
    ASSERT_TRUE(s.ok()) << s.error().ToString();
  }
  std::optional<Record> fresh;
  deadline = Clock::now() + 30s;
  while (!fresh && Clock::now() < deadline) {
    auto rec = PollOne(*second, 200ms);
    ASSERT_TRUE(rec.ok()) << rec.error().ToString();
    fresh = *rec;
  }
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->key, "video-new");
  EXPECT_EQ(fresh->payload, "fresh");
  ASSERT_EQ(fresh->headers.size(), 1u);
  EXPECT_EQ(fresh->headers[0].first, "trace_id");
  EXPECT_EQ(fresh->headers[0].second, "t-1");
  EXPECT_TRUE(second->Commit(*fresh).ok());
}

TEST_F(KafkaTest, TwoMembersSplitThePartitions) {
  const std::string topic = NewTopic(3);
  const std::string group = "test.group." + NewUuid().substr(0, 8);
  auto a = NewConsumer(group, topic);
  auto b = NewConsumer(group, topic);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  std::vector<TopicPartition> as;
  std::vector<TopicPartition> bs;
  const auto deadline = Clock::now() + 60s;
  int stable_rounds = 0;
  while (Clock::now() < deadline && stable_rounds < 5) {
    auto ra = PollOne(*a, 100ms);
    ASSERT_TRUE(ra.ok()) << ra.error().ToString();
    auto rb = PollOne(*b, 100ms);
    ASSERT_TRUE(rb.ok()) << rb.error().ToString();
    as = a->Assignment();
    bs = b->Assignment();
    const bool split = !as.empty() && !bs.empty() && as.size() + bs.size() == 3;
    stable_rounds = split ? stable_rounds + 1 : 0;
  }
  ASSERT_FALSE(as.empty());
  ASSERT_FALSE(bs.empty());
  std::set<TopicPartition> all;
  for (const auto& tp : as) EXPECT_TRUE(all.insert(tp).second);
  for (const auto& tp : bs) EXPECT_TRUE(all.insert(tp).second) << "partition in both members";
  EXPECT_EQ(all, (std::set<TopicPartition>{{topic, 0}, {topic, 1}, {topic, 2}}));

  // When one member leaves, the other takes over every partition.
  ASSERT_TRUE(b->Close().ok());
  const auto takeover = Clock::now() + 60s;
  while (a->Assignment().size() < 3 && Clock::now() < takeover)
    ASSERT_TRUE(PollOne(*a, 100ms).ok());
  EXPECT_EQ(a->Assignment().size(), 3u);
}

TEST_F(KafkaTest, UnreachableBrokerFailsDeliveryInsteadOfDropping) {
  KafkaConfig dead;
  dead.brokers = "127.0.0.1:1";  // nothing listens here
  dead.client_id = "kafka_kafkatest_dead";
  dead.message_timeout = 1500ms;
  dead.extra["queue.buffering.max.messages"] = "10";  // tiny local queue

  const auto start = Clock::now();
  std::atomic<int> reports{0};
  std::atomic<int> failures{0};
  int accepted = 0;
  int queue_full = 0;
  {
    auto producer = Producer::Create(dead);
    ASSERT_TRUE(producer.ok()) << producer.error().ToString();
    for (int i = 0; i < 25; ++i) {
      auto s = (*producer)->Produce("test.kafka.dead", "k" + std::to_string(i), "v",
                                    [&](const DeliveryReport& r) {
                                      ++reports;
                                      if (!r.persisted()) {
                                        EXPECT_TRUE(r.status.error().transient());
                                        EXPECT_EQ(r.status.error().code, "message_timeout");
                                        ++failures;
                                      }
                                    });
      if (s.ok()) {
        ++accepted;
      } else {
        EXPECT_EQ(s.error().code, "queue_full") << s.error().ToString();
        EXPECT_TRUE(s.error().transient());
        ++queue_full;
      }
    }
    EXPECT_EQ(accepted, 10);
    EXPECT_EQ(queue_full, 15);
    auto flushed = (*producer)->Flush(10s);  // every report served (all failed)
    EXPECT_TRUE(flushed.ok()) << flushed.error().ToString();

    auto sync = (*producer)->ProduceSync("test.kafka.dead", "k", "v", 10s);
    ASSERT_FALSE(sync.ok());
    EXPECT_TRUE(sync.error().transient());
    EXPECT_EQ(sync.error().code, "message_timeout") << sync.error().ToString();
  }
  EXPECT_EQ(reports.load(), accepted);
  EXPECT_EQ(failures.load(), accepted);
  EXPECT_LT(Clock::now() - start, 15s);
}

TEST_F(KafkaTest, UnreachableBrokerSurfacesFromConsumerPoll) {
  KafkaConfig dead;
  dead.brokers = "127.0.0.1:1";
  auto consumer = Consumer::Create(dead, ConsumerOptions{"test.group.dead"});
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Subscribe({"test.kafka.dead"}).ok());
  std::optional<Error> error;
  const auto deadline = Clock::now() + 15s;
  while (!error && Clock::now() < deadline) {
    auto rec = (*consumer)->Poll(200ms);
    if (!rec.ok()) error = rec.error();
  }
  ASSERT_TRUE(error.has_value()) << "a dead broker must not look like an idle topic";
  EXPECT_TRUE(error->transient()) << error->ToString();
}

TEST_F(KafkaTest, PingAnswersOnlyWhileABrokerDoes) {
  auto live = Consumer::Create(config_, ConsumerOptions{"test.group.ping." + NewUuid()});
  ASSERT_TRUE(live.ok());
  auto ok = (*live)->Ping(10s);
  EXPECT_TRUE(ok.ok()) << ok.error().ToString();

  KafkaConfig dead;
  dead.brokers = "127.0.0.1:1";
  auto consumer = Consumer::Create(dead, ConsumerOptions{"test.group.dead"});
  ASSERT_TRUE(consumer.ok());
  const auto t0 = Clock::now();
  auto down = (*consumer)->Ping(1s);
  ASSERT_FALSE(down.ok()) << "no broker answers 127.0.0.1:1";
  EXPECT_TRUE(down.error().transient()) << down.error().ToString();
  EXPECT_LT(Clock::now() - t0, 5s) << "the timeout was not kept";
}

TEST_F(KafkaTest, ProducerFromManyThreads) {
  const std::string topic = NewTopic(3);
  auto producer = Producer::Create(config_, ProducerOptions{false});  // caller polls
  ASSERT_TRUE(producer.ok());
  std::atomic<int> persisted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto s = (*producer)->Produce(topic, std::to_string(t * 100 + i), "x",
                                      [&](const DeliveryReport& r) {
                                        if (r.persisted()) ++persisted;
                                      });
        EXPECT_TRUE(s.ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE((*producer)->Flush(30s).ok());
  EXPECT_EQ(persisted.load(), 200);
}

}  // namespace
}  // namespace chansum::kafka
