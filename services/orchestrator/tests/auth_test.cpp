// API_TOKEN: the real routes behind the real pre-routing check, served on 127.0.0.1.
#include "src/auth.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "chansum/metrics/metrics.hpp"
#include "src/api.hpp"

namespace chansum::orchestrator {
namespace {

using nlohmann::json;

TEST(BearerTokenMatchesTest, OnlyTheExactTokenWithTheBearerScheme) {
  EXPECT_TRUE(BearerTokenMatches("Bearer s3cret-token", "s3cret-token"));
  EXPECT_TRUE(BearerTokenMatches("bearer s3cret-token", "s3cret-token"));
  EXPECT_TRUE(BearerTokenMatches("BEARER   s3cret-token", "s3cret-token"));
  EXPECT_FALSE(BearerTokenMatches("Bearer s3cret-toke", "s3cret-token"));
  EXPECT_FALSE(BearerTokenMatches("Bearer s3cret-token2", "s3cret-token"));
  EXPECT_FALSE(BearerTokenMatches("Bearer S3cret-token", "s3cret-token"));
  EXPECT_FALSE(BearerTokenMatches("Basic s3cret-token", "s3cret-token"));
  EXPECT_FALSE(BearerTokenMatches("Bearers3cret-token", "s3cret-token"));
  EXPECT_FALSE(BearerTokenMatches("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(BearerTokenMatches("Bearer ", "s3cret-token"));
  EXPECT_FALSE(BearerTokenMatches("", "s3cret-token"));
  EXPECT_FALSE(BearerTokenMatches("Bearer ", ""));  // no token configured never matches
}

TEST(IsPublicRequestTest, ProbesAndDashboardFilesOnly) {
  for (const char* path : {"/healthz", "/readyz", "/metrics", "/", "/ui", "/ui/app.js"}) {
    EXPECT_TRUE(IsPublicRequest("GET", path)) << path;
    EXPECT_TRUE(IsPublicRequest("HEAD", path)) << path;
  }
  EXPECT_FALSE(IsPublicRequest("POST", "/healthz"));
  EXPECT_FALSE(IsPublicRequest("GET", "/metrics", /*metrics_public=*/false));
  EXPECT_FALSE(IsPublicRequest("POST", "/ui/x"));
  for (const char* path : {"/jobs", "/jobs/x", "/videos/a/summary", "/uix", "/metrics/x", "//jobs",
                           "/healthz/../jobs"}) {
    EXPECT_FALSE(IsPublicRequest("GET", path)) << path;
  }
}

class AuthServer : public ::testing::Test {
 protected:
  void Start(const std::string& token, bool metrics_public = true) {
    ApiDeps deps;
    deps.api_token = token;
    deps.metrics_public = metrics_public;
    deps.readiness = [] {
      return json{{"ready", false},
                  {"checks", {{"postgres", false}}},
                  {"errors", {{"postgres", "connection to server at \"10.1.2.3\" refused"}}}};
    };
    // Reaching the database means the request got past the check: answer 503 and count it.
    deps.txn = [this](const std::function<void(pqxx::work&)>&) -> Status {
      ++reached_;
      return Error::Transient("db_down", "no database in this test");
    };
    RegisterRoutes(server_, deps);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Client Client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(5);
    return c;
  }
  static void ExpectUnauthorized(const httplib::Result& res, const std::string& what) {
    ASSERT_TRUE(res) << what;
    EXPECT_EQ(res->status, 401) << what << ": " << res->body;
    EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer realm=\"chansum\"") << what;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << what;
    auto body = json::parse(res->body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << what << ": " << res->body;
    EXPECT_EQ(body["error"]["code"], "unauthorized") << what;
  }

  http::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> reached_{0};
};

TEST_F(AuthServer, WithATokenEveryApiCallNeedsIt) {
  const std::string token = "t0ken-with-enough-entropy";
  Start(token);
  auto c = Client();
  const std::string job = R"({"channel": "@someone"})";
  ExpectUnauthorized(c.Post("/jobs", job, "application/json"), "POST /jobs without a token");
  ExpectUnauthorized(c.Get("/jobs"), "GET /jobs without a token");
  ExpectUnauthorized(c.Get("/jobs/00000000-0000-4000-8000-000000000000"), "GET /jobs/{id}");
  ExpectUnauthorized(c.Get("/videos/abc/transcript"), "GET /videos/{id}/transcript");
  ExpectUnauthorized(c.Get("/no-such-route"), "an unknown route");
  ExpectUnauthorized(c.Get("/jobs", {{"Authorization", "Bearer wrong"}}), "a wrong token");
  ExpectUnauthorized(c.Get("/jobs", {{"Authorization", "Basic " + token}}), "the Basic scheme");
  ExpectUnauthorized(
      c.Post("/jobs", {{"Authorization", "Bearer " + token + "x"}}, job, "application/json"),
      "a longer token");
  EXPECT_EQ(reached_.load(), 0) << "a request without the right token reached the database";

  // With the token the routes run (here: the database is "down" -> 503, not 401).
  const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
  auto listed = c.Get("/jobs", auth);
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 503) << listed->body;
  auto posted = c.Post("/jobs", auth, job, "application/json");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 503) << posted->body;
  auto invalid = c.Post("/jobs", auth, "{", "application/json");
  ASSERT_TRUE(invalid);
  EXPECT_EQ(invalid->status, 400);  // validation runs after the check
  EXPECT_EQ(reached_.load(), 2);

  // Probes, /metrics and the dashboard's page and files stay open; an unknown file is a 404.
  for (const char* path : {"/healthz", "/metrics", "/", "/ui/app.js", "/ui/app.css"}) {
    auto res = c.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
  }
  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  auto missing = c.Get("/ui/no-such-file.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

double Sample(const std::map<std::string, double>& samples, const std::string& series) {
  auto it = samples.find(series);
  return it == samples.end() ? 0.0 : it->second;
}

// The check shares the pre-routing step with the request metrics: refused and admitted calls are
// both counted and timed, and /metrics stays open.
TEST_F(AuthServer, RequestsBehindTheCheckAreStillTimed) {
  const std::string token = "another-t0ken";
  Start(token);
  auto c = Client();
  const std::string timed =
      "chansum_http_request_duration_seconds_count{method=\"GET\",route=\"/jobs\"}";
  const std::string refused =
      "chansum_http_requests_total{method=\"GET\",route=\"/jobs\",status=\"401\"}";
  auto scrape = [&] {
    auto r = c.Get("/metrics");
    EXPECT_TRUE(r);
    EXPECT_EQ(r ? r->status : 0, 200);
    return metrics::ParseText(r ? r->body : std::string());
  };
  const auto before = scrape();
  ExpectUnauthorized(c.Get("/jobs"), "GET /jobs without a token");
  auto listed = c.Get("/jobs", {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 503);
  // The logger (which records) runs just after the response is written: wait for it.
  std::map<std::string, double> after;
  for (int i = 0; i < 200; ++i) {
    after = scrape();
    if (Sample(after, timed) - Sample(before, timed) >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Sample(after, timed) - Sample(before, timed), 2);
  EXPECT_EQ(Sample(after, refused) - Sample(before, refused), 1);
}

// Issue 18 §4.1/§4.6: beyond loopback /metrics needs the token too; /readyz tells a caller without
// it only whether the service is ready and which checks fail, not why (hosts, server messages).
TEST_F(AuthServer, BeyondLoopbackMetricsNeedTheTokenAndReadinessDetailsToo) {
  const std::string token = "third-t0ken";
  Start(token, /*metrics_public=*/false);
  auto c = Client();
  ExpectUnauthorized(c.Get("/metrics"), "GET /metrics without a token");
  const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
  auto scraped = c.Get("/metrics", auth);
  ASSERT_TRUE(scraped);
  EXPECT_EQ(scraped->status, 200);
  auto anonymous = c.Get("/readyz");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 503);
  EXPECT_EQ(json::parse(anonymous->body)["checks"]["postgres"], false);
  EXPECT_EQ(anonymous->body.find("10.1.2.3"), std::string::npos) << anonymous->body;
  auto detailed = c.Get("/readyz", auth);
  ASSERT_TRUE(detailed);
  EXPECT_NE(detailed->body.find("10.1.2.3"), std::string::npos) << detailed->body;
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(AuthServer, WithoutATokenTheApiIsOpen) {
  Start("");
  auto c = Client();
  auto listed = c.Get("/jobs");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 503) << listed->body;
  EXPECT_EQ(reached_.load(), 1);
}

}  // namespace
}  // namespace chansum::orchestrator
