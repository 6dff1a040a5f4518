#include <gtest/gtest.h>

#include "src/api.hpp"

namespace chansum::orchestrator {
namespace {

TEST(ParseJobRequestFilters, AcceptsAndNormalizes) {
  auto r = ParseJobRequest(
      R"({"channel": "@abc", "published_after": "2024-02-29", "max_duration_s": 90.5})");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->published_after, "2024-02-29T00:00:00Z");
  ASSERT_TRUE(r->max_duration_s);
  EXPECT_DOUBLE_EQ(*r->max_duration_s, 90.5);
  auto t = ParseJobRequest(R"({"channel": "@abc", "published_after": "2024-03-01T10:20:30Z"})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->published_after, "2024-03-01T10:20:30Z");
  EXPECT_FALSE(t->max_duration_s);
  auto none = ParseJobRequest(R"({"channel": "@abc"})");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->published_after.empty());
}

TEST(ParseJobRequestFilters, RejectsBadValues) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"channel": "@a", "published_after": 20240101})", "invalid_type"},
      {R"({"channel": "@a", "published_after": "2023-02-29"})", "invalid_value"},
      {R"({"channel": "@a", "published_after": "2024-13-01"})", "invalid_value"},
      {R"({"channel": "@a", "published_after": "yesterday"})", "invalid_value"},
      {R"({"channel": "@a", "published_after": "2024-03-01T25:00:00Z"})", "invalid_value"},
      {R"({"channel": "@a", "published_after": "2024-03-01T10:00:00+02:00"})", "invalid_value"},
      {R"({"channel": "@a", "max_duration_s": "60"})", "invalid_type"},
      {R"({"channel": "@a", "max_duration_s": 0})", "invalid_value"},
      {R"({"channel": "@a", "max_duration_s": -5})", "invalid_value"},
      {R"({"channel": "@a", "max_duration_s": 1e9})", "invalid_value"},
  };
  for (const auto& [body, code] : cases) {
    auto r = ParseJobRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, code) << body << ": " << r.error().message;
  }
}

}  // namespace
}  // namespace chansum::orchestrator
