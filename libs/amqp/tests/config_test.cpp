#include "chansum/amqp/config.hpp"

#include <gtest/gtest.h>

namespace chansum::amqp {
namespace {

TEST(AmqpConfigTest, ParsesUrlIntoParts) {
  auto c = ParseAmqpUrl("amqp://chansum:s3cret@127.0.0.1:25672/");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, 25672);
  EXPECT_EQ(c->vhost, "/");
  EXPECT_EQ(c->user, "chansum");
  EXPECT_EQ(c->password, "s3cret");
  EXPECT_EQ(c->url, "amqp://chansum:s3cret@127.0.0.1:25672/");
}

TEST(AmqpConfigTest, ParsesVhostAndDefaults) {
  auto c = ParseAmqpUrl("amqp://broker.local/pipeline");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->host, "broker.local");
  EXPECT_EQ(c->port, 5672);
  EXPECT_EQ(c->vhost, "pipeline");
  EXPECT_EQ(c->user, "guest");
  EXPECT_EQ(c->password, "guest");

  auto encoded = ParseAmqpUrl("amqp://u:p@h:1/%2fprod");
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(encoded->vhost, "/prod");
}

TEST(AmqpConfigTest, RejectsMalformedUrlWithoutLeakingPassword) {
  for (const char* bad :
       {"http://u:topsecret@h/", "amqp://u:topsecret@h:notaport/", "amqps://u:topsecret@h/"}) {
    auto c = ParseAmqpUrl(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_FALSE(c.error().transient());
    EXPECT_EQ(c.error().message.find("topsecret"), std::string::npos) << c.error().message;
  }
}

TEST(AmqpConfigTest, FromEnvReadsDefaultsAndOverrides) {
  ConfigReader env(std::map<std::string, std::string>{{"AMQP_URL", "amqp://a:b@127.0.0.1:25672/"},
                                                      {"AMQP_CONNECT_TIMEOUT", "750ms"}});
  auto c = AmqpConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(c.port, 25672);
  EXPECT_EQ(c.heartbeat, std::chrono::seconds(30));
  EXPECT_EQ(c.connect_timeout, std::chrono::milliseconds(750));
  EXPECT_EQ(c.rpc_timeout, std::chrono::seconds(30));

  ConfigReader env2(std::map<std::string, std::string>{
      {"AMQP_URL", "amqp://a:b@h/"}, {"AMQP_HEARTBEAT", "10s"}, {"AMQP_RPC_TIMEOUT", "2s"}});
  auto c2 = AmqpConfig::FromEnv(env2);
  EXPECT_NO_THROW(env2.Finish());
  EXPECT_EQ(c2.heartbeat, std::chrono::seconds(10));
  EXPECT_EQ(c2.rpc_timeout, std::chrono::seconds(2));
}

TEST(AmqpConfigTest, FromEnvReportsEveryProblemAndNeverThePassword) {
  ConfigReader missing(std::map<std::string, std::string>{});
  (void)AmqpConfig::FromEnv(missing);
  ASSERT_EQ(missing.problems().size(), 1u);
  EXPECT_NE(missing.problems()[0].find("AMQP_URL"), std::string::npos);

  ConfigReader bad(std::map<std::string, std::string>{{"AMQP_URL", "amqp://u:hunter2@h:xx/"},
                                                      {"AMQP_HEARTBEAT", "1500ms"},
                                                      {"AMQP_CONNECT_TIMEOUT", "0s"},
                                                      {"AMQP_RPC_TIMEOUT", "soon"}});
  (void)AmqpConfig::FromEnv(bad);
  EXPECT_EQ(bad.problems().size(), 4u);
  try {
    bad.Finish();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
    for (const char* name :
         {"AMQP_URL", "AMQP_HEARTBEAT", "AMQP_CONNECT_TIMEOUT", "AMQP_RPC_TIMEOUT"}) {
      EXPECT_NE(what.find(name), std::string::npos) << name << " missing in: " << what;
    }
  }
}

TEST(AmqpConfigTest, RedactedHidesPassword) {
  auto c = ParseAmqpUrl("amqp://chansum:s3cret@127.0.0.1:25672/");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Redacted().find("s3cret"), std::string::npos);
  EXPECT_NE(c->Redacted().find("127.0.0.1:25672"), std::string::npos);
}

}  // namespace
}  // namespace chansum::amqp
