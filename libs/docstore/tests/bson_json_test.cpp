#include "../src/bson_json.hpp"

#include <gtest/gtest.h>

namespace chansum::docstore::internal {
namespace {

using nlohmann::json;

TEST(BsonJsonTest, RoundTripKeepsTypes) {
  const json doc = {{"_id", "vid-1"},
                    {"n", 42},
                    {"big", 9007199254740993LL},
                    {"ratio", 0.25},
                    {"ok", true},
                    {"none", nullptr},
                    {"text", "naïve — ✓"},
                    {"segments", json::array({{{"start", 0.5}, {"end", 1.5}, {"text", "hi"}}})}};
  auto b = ToBson(doc);
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  auto back = ToJson(b->get());
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, doc);
  EXPECT_TRUE((*back)["big"].is_number_integer());
}

TEST(BsonJsonTest, ExtendedJsonDates) {
  auto b = ToBson(json{{"at", {{"$date", "2024-01-02T03:04:05Z"}}}});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  bson_iter_t it;
  ASSERT_TRUE(bson_iter_init_find(&it, b->get(), "at"));
  EXPECT_EQ(bson_iter_type(&it), BSON_TYPE_DATE_TIME);
  auto back = ToJson(b->get());
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE((*back)["at"].contains("$date"));
}

TEST(BsonJsonTest, RejectsNonObjects) {
  EXPECT_FALSE(ToBson(json::array({1, 2})).ok());
  EXPECT_FALSE(ToBson(json("text")).ok());
  auto bad = ToBson(json{{"x", {{"$numberLong", "not-a-number"}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_document");
}

}  // namespace
}  // namespace chansum::docstore::internal
