#include "src/api.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace chansum::orchestrator {
namespace {

TEST(ParseJobRequestTest, AcceptsChannelAndDefaults) {
  auto r = ParseJobRequest(R"({"channel": "@veritasium"})");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->channel, "@veritasium");
  EXPECT_EQ(r->channel_url, "https://www.youtube.com/@veritasium/videos");
  EXPECT_EQ(r->max_videos, kDefaultMaxVideos);
  auto r2 = ParseJobRequest(R"({"channel": "http://127.0.0.1:9/feed.xml", "max_videos": 3})");
  ASSERT_TRUE(r2.ok()) << r2.error().ToString();
  EXPECT_EQ(r2->max_videos, 3);
  // Only a typed URL names a host of the user's choosing (the SSRF check looks at those).
  EXPECT_FALSE(r->user_url);
  EXPECT_TRUE(r2->user_url);
  auto id = ParseJobRequest(R"({"channel": "UCabcdefghijklmnopqrstuv"})");
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  EXPECT_FALSE(id->user_url);
}

TEST(ParseJobRequestTest, RejectsBadInputWithCodes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{not json", "invalid_json"},
      {"[1,2]", "invalid_request"},
      {R"({"max_videos": 2})", "missing_field"},
      {R"({"channel": 5})", "invalid_type"},
      {R"({"channel": "@a", "max_videos": "2"})", "invalid_type"},
      {R"({"channel": "@a", "max_videos": 2.5})", "invalid_type"},
      {R"({"channel": "@a", "max_videos": 0})", "invalid_value"},
      {R"({"channel": "@a", "max_videos": 501})", "invalid_value"},
      {R"({"channel": "@a", "colour": "blue"})", "unknown_field"},
      {R"({"channel": "--exec=rm -rf /"})", "invalid_channel"},
      {R"({"channel": "@a\u0007b"})", "invalid_channel"},
      {R"({"channel": "file:///etc/passwd"})", "invalid_channel"},
      {std::string(70 * 1024, ' '), "payload_too_large"},
  };
  for (const auto& [body, code] : cases) {
    auto r = ParseJobRequest(body);
    ASSERT_FALSE(r.ok()) << body.substr(0, 80);
    EXPECT_EQ(r.error().code, code) << body.substr(0, 80) << ": " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
}

}  // namespace
}  // namespace chansum::orchestrator
