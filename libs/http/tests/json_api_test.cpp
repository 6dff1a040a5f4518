#include "chansum/http/json_api.hpp"

#include <thread>

#include "chansum/metrics/metrics.hpp"

#include <gtest/gtest.h>

namespace chansum::http {
namespace {

using nlohmann::json;

class JsonServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ConfigureJsonServer(server_, ServerOptions{1024, false});
    AddHealthRoutes(server_, [this] { return json{{"ready", ready_.load()}}; });
    server_.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      SendJson(res, 200, json{{"bytes", req.body.size()}});
    });
    server_.Get("/boom", [](const httplib::Request&, httplib::Response&) {
      throw std::runtime_error("secret detail");
    });
    server_.Get("/down", [](const httplib::Request&, httplib::Response& res) {
      SendFailure(res, Error::Transient("pg", "connection refused"));
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  httplib::Client Client() const { return httplib::Client("127.0.0.1", port_); }

  http::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> ready_{true};
};

json Error(const httplib::Result& r) { return json::parse(r->body)["error"]; }

TEST_F(JsonServerTest, UnknownRouteIsA404JsonError) {
  auto r = Client().Get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Error(r)["code"], "not_found");
  EXPECT_EQ(Error(r)["message"], "no such resource: GET /nope");
}

TEST_F(JsonServerTest, OversizedBodyIsA413JsonError) {
  auto r = Client().Post("/echo", std::string(2048, 'x'), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Error(r)["code"], "payload_too_large");
  auto ok = Client().Post("/echo", std::string(100, 'x'), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(json::parse(ok->body)["bytes"], 100);
}

TEST_F(JsonServerTest, ExceptionsAre500WithoutDetails) {
  auto r = Client().Get("/boom");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(Error(r)["code"], "internal");
  EXPECT_EQ(r->body.find("secret"), std::string::npos);
}

TEST_F(JsonServerTest, TransientFailureIs503WithRetryAfter) {
  auto r = Client().Get("/down");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "2");
  EXPECT_EQ(Error(r)["code"], "unavailable");
}

TEST_F(JsonServerTest, HealthAndReadiness) {
  auto h = Client().Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto r = Client().Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ready_ = false;
  r = Client().Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body)["ready"], false);
}

// Issue 18 §4.1/§4.6: with a token, everything but the probes (and /metrics on loopback) needs it;
// /readyz tells callers without it only ready or not and which checks, never why.
class TokenServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options{1024, false};
    options.api_token = "t0ken";
    options.metrics_public = false;  // as beyond loopback
    ConfigureJsonServer(server_, options);
    AddHealthRoutes(server_, [] {
      return json{{"ready", false},
                  {"checks", {{"postgres", false}}},
                  {"errors", {{"postgres", "connection to server at \"db.internal\" failed"}}}};
    });
    server_.Get("/jobs", [](const httplib::Request&, httplib::Response& res) {
      SendJson(res, 200, json{{"jobs", json::array()}});
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  httplib::Client Client(bool with_token) const {
    httplib::Client c("127.0.0.1", port_);
    if (with_token) c.set_default_headers({{"Authorization", "Bearer t0ken"}});
    return c;
  }

  http::Server server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(TokenServerTest, RoutesAndMetricsNeedTheTokenProbesDoNot) {
  for (const char* path : {"/jobs", "/metrics", "/nope"}) {
    auto r = Client(false).Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"chansum\"");
    EXPECT_EQ(Error(r)["code"], "unauthorized");
    httplib::Client wrong("127.0.0.1", port_);
    wrong.set_default_headers({{"Authorization", "Bearer t0kem"}});
    auto w = wrong.Get(path);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->status, 401) << path;
  }
  auto jobs = Client(true).Get("/jobs");
  ASSERT_TRUE(jobs);
  EXPECT_EQ(jobs->status, 200);
  auto metrics = Client(true).Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  auto health = Client(false).Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(TokenServerTest, ReadinessDetailsOnlyWithTheToken) {
  auto anonymous = Client(false).Get("/readyz");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 503);
  const auto body = json::parse(anonymous->body);
  EXPECT_EQ(body["ready"], false);
  EXPECT_EQ(body["checks"]["postgres"], false);
  EXPECT_FALSE(body.contains("errors")) << anonymous->body;
  EXPECT_EQ(anonymous->body.find("db.internal"), std::string::npos);
  auto authorized = Client(true).Get("/readyz");
  ASSERT_TRUE(authorized);
  EXPECT_EQ(authorized->status, 503);
  EXPECT_NE(authorized->body.find("db.internal"), std::string::npos);
}

TEST(RouteLabel, EverySecondSegmentIsAnId) {
  EXPECT_EQ(RouteLabel("/"), "/");
  EXPECT_EQ(RouteLabel("/jobs"), "/jobs");
  EXPECT_EQ(RouteLabel("/jobs/3f2a-11"), "/jobs/{id}");
  EXPECT_EQ(RouteLabel("/jobs/3f2a-11/retry"), "/jobs/{id}/retry");
  EXPECT_EQ(RouteLabel("/videos/abc/summary"), "/videos/{id}/summary");
  EXPECT_EQ(RouteLabel("/jobs/"), "/jobs/");
}

double Sample(const std::map<std::string, double>& samples, const std::string& series) {
  auto it = samples.find(series);
  return it == samples.end() ? 0.0 : it->second;
}

TEST_F(JsonServerTest, MetricsCountRequestsByRouteAndStatus) {
  const std::string ok =
      "chansum_http_requests_total{method=\"POST\",route=\"/echo\",status=\"200\"}";
  const std::string unmatched =
      "chansum_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}";
  const std::string boom =
      "chansum_http_requests_total{method=\"GET\",route=\"/boom\",status=\"500\"}";
  const std::string latency =
      "chansum_http_request_duration_seconds_count{method=\"POST\",route=\"/echo\"}";
  auto scrape = [&] {
    auto r = Client().Get("/metrics");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return metrics::ParseText(r->body);
  };
  const auto before = scrape();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Client().Post("/echo", "{}", "application/json"));
  ASSERT_TRUE(Client().Get("/no/such/thing"));
  ASSERT_TRUE(Client().Get("/boom"));
  // The logger (which counts) runs just after each response is written, on the server's worker
  // thread, so under load any of the five may still be uncounted when the client has its answer:
  // wait (bounded) until every series has moved, then check each moved by exactly its count.
  std::map<std::string, double> after;
  auto moved = [&](const std::string& series) {
    return Sample(after, series) - Sample(before, series);
  };
  for (int i = 0; i < 500; ++i) {
    after = scrape();
    if (moved(ok) >= 3 && moved(latency) >= 3 && moved(unmatched) >= 1 && moved(boom) >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Sample(after, ok) - Sample(before, ok), 3);
  EXPECT_EQ(Sample(after, latency) - Sample(before, latency), 3);
  EXPECT_EQ(Sample(after, unmatched) - Sample(before, unmatched), 1);
  EXPECT_EQ(Sample(after, boom) - Sample(before, boom), 1);
  for (const auto& [series, value] : after) {
    EXPECT_EQ(series.find("/no/such"), std::string::npos) << series;
  }
}

// Each refusal happens before any body is read, whatever the route (issue 18 §4.2, §4.5).
TEST_F(JsonServerTest, ChunkedAndCompressedBodiesAreRefusedWhateverTheirSize) {
  auto chunked = Client().Post(
      "/echo",
      [](size_t offset, httplib::DataSink& sink) {
        if (offset < 4096) {
          const std::string part(512, 'x');  // 4 KiB in all: past the 1 KiB limit
          sink.write(part.data(), part.size());
        } else {
          sink.done();
        }
        return true;
      },
      "application/json");
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->status, 411);
  EXPECT_EQ(Error(chunked)["code"], "length_required");

  auto gzip = Client().Post("/echo", httplib::Headers{{"Content-Encoding", "gzip"}},
                            std::string(100, 'x'), "application/json");
  ASSERT_TRUE(gzip);
  EXPECT_EQ(gzip->status, 415);
  EXPECT_EQ(Error(gzip)["code"], "unsupported_media_type");
}

TEST_F(JsonServerTest, BodiesMustBeJson) {
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", "application/jsonp"}) {
    auto r = Client().Post("/echo", "{}", type);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415) << type;
    EXPECT_EQ(Error(r)["code"], "unsupported_media_type") << type;
  }
  for (const char* type : {"application/json", "application/json; charset=utf-8",
                           "Application/JSON", "application/merge-patch+json"}) {
    auto r = Client().Post("/echo", "{}", type);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << type;
  }
  auto empty = Client().Post("/echo");  // no body (e.g. POST /jobs/{id}/cancel): no type needed
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 200);
}

TEST_F(JsonServerTest, StateChangingRequestsFromOtherSitesAreRefused) {
  auto foreign = Client().Post("/echo", httplib::Headers{{"Origin", "https://evil.example"}}, "{}",
                               "application/json");
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403);
  EXPECT_EQ(Error(foreign)["code"], "forbidden_origin");
  auto opaque =
      Client().Post("/echo", httplib::Headers{{"Origin", "null"}}, "{}", "application/json");
  ASSERT_TRUE(opaque);
  EXPECT_EQ(opaque->status, 403);
  // The dashboard, served by this server: same scheme://host:port.
  auto same = Client().Post(
      "/echo", httplib::Headers{{"Origin", "http://127.0.0.1:" + std::to_string(port_)}}, "{}",
      "application/json");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 200);
  // Reading stays open to any origin (the browser's same-origin policy keeps the answer from it).
  auto read = Client().Get("/healthz", httplib::Headers{{"Origin", "https://evil.example"}});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);

  httplib::Request req;
  req.method = "POST";
  req.headers = {{"Origin", "https://dash.example.org"}, {"Host", "api:8080"}};
  httplib::Response res;
  EXPECT_TRUE(GuardRequest(req, res, {}));
  EXPECT_EQ(res.status, 403);
  httplib::Response allowed;
  EXPECT_FALSE(GuardRequest(req, allowed, {"https://dash.example.org"}));
}

TEST_F(JsonServerTest, MoreThanOneByteRangeIsRefused) {
  server_.Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(37000, 'a'), "application/javascript");  // like /ui/app.js
  });
  std::string ranges = "bytes=0-36999";
  for (int i = 1; i < 400; ++i) ranges += ",0-36999";  // served, 400 copies: ~15 MB
  auto many = Client().Get("/big", httplib::Headers{{"Range", ranges}});
  ASSERT_TRUE(many);
  EXPECT_EQ(many->status, 416);
  EXPECT_LT(many->body.size(), 200u) << "an amplified answer";
  auto one = Client().Get("/big", httplib::Headers{{"Range", "bytes=0-3"}});
  ASSERT_TRUE(one);
  EXPECT_NE(one->status, 416);
  EXPECT_LE(one->body.size(), 37000u);
}

}  // namespace
}  // namespace chansum::http
