#include "chansum/kafka/config.hpp"

#include <gtest/gtest.h>

#include "chansum/kafka/consumer.hpp"
#include "chansum/kafka/producer.hpp"

namespace chansum::kafka {
namespace {

TEST(KafkaConfigTest, DefaultsComeFromServiceName) {
  ConfigReader env(std::map<std::string, std::string>{{"KAFKA_BROKERS", "127.0.0.1:9092"}});
  const auto c = KafkaConfig::FromEnv(env, "analytics");
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(c.brokers, "127.0.0.1:9092");
  EXPECT_EQ(c.client_id, "analytics");
  EXPECT_EQ(c.message_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.linger_ms, 5);
}

TEST(KafkaConfigTest, ReadsOverrides) {
  ConfigReader env(std::map<std::string, std::string>{{"KAFKA_BROKERS", "a:1,b:2"},
                                                      {"KAFKA_CLIENT_ID", "relay-1"},
                                                      {"KAFKA_MESSAGE_TIMEOUT", "1500ms"},
                                                      {"KAFKA_LINGER_MS", "20"}});
  const auto c = KafkaConfig::FromEnv(env, "svc");
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(c.brokers, "a:1,b:2");
  EXPECT_EQ(c.client_id, "relay-1");
  EXPECT_EQ(c.message_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.linger_ms, 20);
}

TEST(KafkaConfigTest, ReportsAllProblemsTogether) {
  ConfigReader env(std::map<std::string, std::string>{{"KAFKA_MESSAGE_TIMEOUT", "soon"},
                                                      {"KAFKA_LINGER_MS", "-3"}});
  (void)KafkaConfig::FromEnv(env, "svc");
  EXPECT_EQ(env.problems().size(), 3u);
  EXPECT_THROW(env.Finish(), ConfigError);
}

TEST(KafkaClientTest, RejectsBadSettingsWithoutNetwork) {
  KafkaConfig c;
  c.brokers = "127.0.0.1:1";
  c.extra["no.such.property"] = "1";
  auto p = Producer::Create(c);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().cls, ErrorClass::kPermanent);
  EXPECT_NE(p.error().message.find("no.such.property"), std::string::npos);

  c.extra.clear();
  auto no_group = Consumer::Create(c, ConsumerOptions{});
  ASSERT_FALSE(no_group.ok());
  EXPECT_EQ(no_group.error().code, "config");

  ConsumerOptions bad_reset;
  bad_reset.group_id = "g";
  bad_reset.auto_offset_reset = "middle";
  EXPECT_FALSE(Consumer::Create(c, bad_reset).ok());

  c.brokers.clear();
  EXPECT_FALSE(Producer::Create(c).ok());
}

TEST(KafkaClientTest, ProducerRejectsEmptyTopicAndDestroysCleanly) {
  KafkaConfig c;
  c.brokers = "127.0.0.1:1";
  c.message_timeout = std::chrono::milliseconds(500);
  auto p = Producer::Create(c);
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  auto s = (*p)->Produce("", "k", "v", nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "invalid_argument");
}

}  // namespace
}  // namespace chansum::kafka
