// Bad input through the real HTTP API: each request gets a 4xx JSON error, and no job row and no
// queued message (outbox row) is created.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;

class BadInputE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    db_url_ = testing::RequireEnv("DATABASE_URL");
    ASSERT_FALSE(db_url_.empty());
    ASSERT_TRUE(services_.Start({}));
  }
  void TearDown() override { services_.Stop(); }

  std::pair<long, long> Counts() {
    pqxx::connection conn(db_url_);
    pqxx::work txn(conn);
    const long jobs = txn.exec("SELECT count(*) FROM jobs")[0][0].as<long>();
    const long queued = txn.exec_params("SELECT count(*) FROM outbox WHERE routing_key = $1",
                                        services_.queue_prefix + "discovery")[0][0]
                            .as<long>();
    return {jobs, queued};
  }

  std::string db_url_;
  ServiceSet services_;
};

TEST_F(BadInputE2E, EveryBadRequestGetsA4xxJsonErrorAndChangesNothing) {
  auto api = services_.Api();
  const auto before = Counts();
  struct Case {
    std::string name;
    std::string body;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"malformed JSON", "{\"channel\": ", 400, "invalid_json"},
      {"not an object", "[\"@a\"]", 400, "invalid_request"},
      {"missing channel", R"({"max_videos": 3})", 400, "missing_field"},
      {"channel of wrong type", R"({"channel": 42})", 400, "invalid_type"},
      {"max_videos of wrong type", R"({"channel": "@a", "max_videos": "3"})", 400, "invalid_type"},
      {"max_videos out of range", R"({"channel": "@a", "max_videos": 100000})", 400,
       "invalid_value"},
      {"unknown field", R"({"channel": "@a", "priority": "high"})", 400, "unknown_field"},
      {"channel starting with -", R"({"channel": "--exec=touch /tmp/pwned"})", 400,
       "invalid_channel"},
      {"channel with control characters", "{\"channel\": \"@a\\nb\\u0000\"}", 400,
       "invalid_channel"},
      {"file URL", R"({"channel": "file:///etc/passwd"})", 400, "invalid_channel"},
      {"body over 64 KiB", R"({"channel": "@a", "pad": ")" + std::string(70 * 1024, 'x') + "\"}",
       413, "payload_too_large"},
  };
  for (const auto& c : cases) {
    auto res = api.Post("/jobs", c.body, "application/json");
    ASSERT_TRUE(res) << c.name << ": no response";
    EXPECT_EQ(res->status, c.status) << c.name << ": " << res->body;
    auto body = json::parse(res->body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << c.name << ": error body is not JSON: " << res->body;
    EXPECT_EQ(body["error"]["code"], c.code) << c.name << ": " << res->body;
    EXPECT_TRUE(body["error"]["message"].is_string() &&
                !body["error"]["message"].get<std::string>().empty())
        << c.name;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << c.name;
  }

  // Unknown and malformed job ids, unknown routes, bad paging.
  auto unknown = api.Get("/jobs/00000000-0000-4000-8000-000000000000");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(json::parse(unknown->body)["error"]["code"], "job_not_found");
  auto malformed = api.Get("/jobs/not-a-uuid");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(json::parse(malformed->body)["error"]["code"], "invalid_job_id");
  auto nowhere = api.Get("/nowhere");
  ASSERT_TRUE(nowhere);
  EXPECT_EQ(nowhere->status, 404);
  EXPECT_EQ(json::parse(nowhere->body)["error"]["code"], "not_found");
  auto paging = api.Get("/jobs?limit=0");
  ASSERT_TRUE(paging);
  EXPECT_EQ(paging->status, 400);
  auto cursor = api.Get("/jobs?cursor=garbage");
  ASSERT_TRUE(cursor);
  EXPECT_EQ(cursor->status, 400);
  auto no_transcript = api.Get("/videos/never-seen-video/transcript");
  ASSERT_TRUE(no_transcript);
  EXPECT_EQ(no_transcript->status, 404);

  EXPECT_EQ(Counts(), before) << "a rejected request created a job row or a queued message";

  // And a good request does create both, so the counters above can move.
  auto good =
      api.Post("/jobs", R"({"channel": "@chansum-e2e-test", "max_videos": 1})", "application/json");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 202) << good->body;
  const auto after = Counts();
  EXPECT_EQ(after.first, before.first + 1);
  EXPECT_EQ(after.second, before.second + 1);
}

}  // namespace
}  // namespace chansum::e2e
