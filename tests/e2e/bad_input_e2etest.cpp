// Bad input through the real HTTP API: each request gets a 4xx JSON error, and no job row and no
// queued message (outbox row) is created.
#include <map>
#include <string>
#include <vector>

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
    // SSRF: one loopback port is allow-listed (nothing listens there), and test names resolve
    // through the check's static table, never through DNS. Only the orchestrator runs: even a
    // broken check could create a job but nothing would fetch it.
    allowed_port_ = testing::FreePort();
    services_.extra_env = {
        {"FETCH_ALLOWLIST", "127.0.0.1:" + std::to_string(allowed_port_)},
        {"FETCH_STATIC_HOSTS",
         "private.test=10.0.0.1,metadata.test=169.254.169.254,ula.test=fd00::1,"
         "mapped.test=::ffff:127.0.0.1,mixed.test=93.184.216.34|192.168.0.10"},
    };
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
  int allowed_port_ = 0;
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

TEST_F(BadInputE2E, ChannelUrlsIntoTheServicesNetworkAreRefusedBeforeAnyConnect) {
  auto api = services_.Api();
  const auto before = Counts();
  const std::string open_port = std::to_string(services_.api_port);  // the API itself listens
  const std::string closed_port = std::to_string(testing::FreePort());
  auto post = [&](const std::string& channel) {
    return api.Post("/jobs", json{{"channel", channel}, {"max_videos", 1}}.dump(),
                    "application/json");
  };
  const std::vector<std::string> refused = {
      "http://127.0.0.1:" + open_port + "/x",
      "http://127.0.0.1:" + closed_port + "/x",
      "http://127.0.0.1:25432/x",
      "http://localhost:" + std::to_string(allowed_port_) + "/feed.xml",  // a name, not the entry
      "http://2130706433:" + open_port + "/",
      "http://0x7f.1:" + open_port + "/",
      "http://127.1/",
      "http://[::1]:" + open_port + "/",
      "http://[::ffff:127.0.0.1]:" + open_port + "/",
      "http://169.254.169.254/latest/meta-data/",
      "http://0.0.0.0:" + open_port + "/",
      "https://private.test/feed.xml",
      "http://metadata.test/latest/meta-data/",
      "http://ula.test/",
      "http://mapped.test:" + open_port + "/",
      "http://mixed.test/",
  };
  std::map<std::string, std::string> messages;
  for (const auto& channel : refused) {
    auto res = post(channel);
    ASSERT_TRUE(res) << channel;
    EXPECT_EQ(res->status, 422) << channel << ": " << res->body;
    auto body = json::parse(res->body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << res->body;
    EXPECT_EQ(body["error"]["code"], "destination_not_allowed") << channel << ": " << res->body;
    messages[channel] = body["error"]["message"].get<std::string>();
  }
  EXPECT_EQ(Counts(), before) << "a refused destination created a job or a queued message";

  // No port-open oracle: an open and a closed port get the same answer, word for word.
  auto without_port = [](std::string m, const std::string& port) {
    for (auto at = m.find(port); at != std::string::npos; at = m.find(port))
      m.erase(at, port.size());
    return m;
  };
  EXPECT_EQ(without_port(messages["http://127.0.0.1:" + open_port + "/x"], open_port),
            without_port(messages["http://127.0.0.1:" + closed_port + "/x"], closed_port));

  // The allow-listed address and port is accepted (nothing listens there and no stage runs).
  auto allowed = post("http://127.0.0.1:" + std::to_string(allowed_port_) + "/feed.xml");
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 202) << allowed->body;
  EXPECT_EQ(Counts().first, before.first + 1);
}

}  // namespace
}  // namespace chansum::e2e
