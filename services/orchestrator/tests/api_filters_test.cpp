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

TEST(ParseJobRequestFilters, CaptionLanguages) {
  auto r =
      ParseJobRequest(R"({"channel": "@abc", "caption_languages": ["en", "de", "pt-BR", "en"]})");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->caption_languages, (std::vector<std::string>{"en", "de", "pt-BR"}));
  EXPECT_TRUE(ParseJobRequest(R"({"channel": "@abc"})")->caption_languages.empty());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"channel": "@a", "caption_languages": "en"})", "invalid_type"},
      {R"({"channel": "@a", "caption_languages": [1]})", "invalid_type"},
      {R"({"channel": "@a", "caption_languages": []})", "invalid_value"},
      {R"({"channel": "@a", "caption_languages": ["en,de"]})", "invalid_value"},
      {R"({"channel": "@a", "caption_languages": [".*"]})", "invalid_value"},
      {R"({"channel": "@a", "caption_languages": ["-en"]})", "invalid_value"},
      {R"({"channel": "@a", "caption_languages": [" en"]})", "invalid_value"},
      {R"({"channel": "@a", "caption_languages": ["a","b","c","d","e","f","g","h","i","j","k"]})",
       "invalid_value"},
  };
  for (const auto& [body, code] : cases) {
    auto bad = ParseJobRequest(body);
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_EQ(bad.error().code, code) << body << ": " << bad.error().message;
  }
}

}  // namespace
}  // namespace chansum::orchestrator
