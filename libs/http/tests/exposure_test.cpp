#include "chansum/http/exposure.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <sstream>

namespace chansum::http {
namespace {

TEST(ExposureTest, LoopbackAddresses) {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"}) {
    EXPECT_TRUE(IsLoopbackAddress(a)) << a;
  }
  for (const char* a : {"0.0.0.0", "::", "", "10.0.0.5", "127.0.0.1.example.com", "127.0.0",
                        "127..0.1", "1127.0.0.1", "example.com", "127.0.0.1 "}) {
    EXPECT_FALSE(IsLoopbackAddress(a)) << a;
  }
}

// Issue 18 §4.1: a server bound beyond loopback without a token does not start (the caller
// exits non-zero with this message), unless the operator opts out, which is logged loudly.
TEST(ExposureTest, RefusesAnExposedAddressWithoutTokenUnlessOptedOut) {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  auto logger =
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  spdlog::set_default_logger(logger);
  AccessConfig open;
  AccessConfig with_token;
  with_token.api_token = "s3cret";
  AccessConfig opted_out;
  opted_out.allow_unauthenticated = true;
  EXPECT_TRUE(CheckExposure("HTTP_ADDR", "127.0.0.1", "the API", open).ok());
  EXPECT_TRUE(CheckExposure("HTTP_ADDR", "0.0.0.0", "the API", with_token).ok());
  EXPECT_TRUE(out.str().empty()) << out.str();

  const Status refused = CheckExposure("HEALTH_ADDR", "0.0.0.0", "health endpoints", open);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("HEALTH_ADDR=0.0.0.0"), std::string::npos);
  EXPECT_NE(refused.error().message.find("API_TOKEN"), std::string::npos);
  EXPECT_NE(refused.error().message.find("ALLOW_UNAUTHENTICATED=1"), std::string::npos);

  EXPECT_TRUE(CheckExposure("HTTP_ADDR", "10.0.0.5", "the API", opted_out).ok());
  spdlog::set_default_logger(previous);
  EXPECT_NE(out.str().find("ALLOW_UNAUTHENTICATED is set: HTTP_ADDR=10.0.0.5 serves the API"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("warning"), std::string::npos) << out.str();
}

TEST(ExposureTest, AccessFromTheEnvironment) {
  ConfigReader env(std::map<std::string, std::string>{{"API_TOKEN", "t0k"},
                                                      {"ALLOW_UNAUTHENTICATED", "1"},
                                                      {"HTTP_MAX_CONNECTIONS", "50"},
                                                      {"HTTP_READ_TIMEOUT", "2s"}});
  const auto access = AccessConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(access.api_token, "t0k");
  EXPECT_TRUE(access.allow_unauthenticated);
  EXPECT_EQ(access.limits.max_connections, 50U);
  EXPECT_EQ(access.limits.read_timeout, std::chrono::seconds(2));
  EXPECT_EQ(access.limits.keep_alive_timeout, std::chrono::seconds(5));
  ServerOptions options;
  access.ApplyTo(options, "0.0.0.0");
  EXPECT_EQ(options.api_token, "t0k");
  EXPECT_FALSE(options.metrics_public);
  access.ApplyTo(options, "127.0.0.1");
  EXPECT_TRUE(options.metrics_public);
}

}  // namespace
}  // namespace chansum::http
