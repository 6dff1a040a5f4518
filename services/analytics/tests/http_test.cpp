// Issue 18 §4.1: the analytics API takes the same bearer token as the orchestrator, and refuses
// to serve beyond loopback without one.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "src/http.hpp"
#include "src/service.hpp"

namespace chansum::analytics {
namespace {

TEST(AnalyticsHttp, WithATokenTheApiNeedsItAndTheProbesDoNot) {
  ApiDeps deps;
  deps.readiness = [] { return nlohmann::json{{"ready", true}}; };
  deps.schema_ready = [] { return false; };  // answers 503 before the database once admitted
  http::AccessConfig access;
  access.api_token = "analytics-t0ken";
  access.ApplyTo(deps.server, "127.0.0.1");
  http::Server server;
  RegisterRoutes(server, deps);
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&server] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  httplib::Client c("127.0.0.1", port);
  for (const char* path : {"/analytics", "/jobs/00000000-0000-4000-8000-000000000000/analytics"}) {
    auto refused = c.Get(path);
    ASSERT_TRUE(refused) << path;
    EXPECT_EQ(refused->status, 401) << path;
    auto wrong = c.Get(path, {{"Authorization", "Bearer analytics-t0kem"}});
    ASSERT_TRUE(wrong) << path;
    EXPECT_EQ(wrong->status, 401) << path;
    auto admitted = c.Get(path, {{"Authorization", "Bearer analytics-t0ken"}});
    ASSERT_TRUE(admitted) << path;
    EXPECT_EQ(admitted->status, 503) << path;
  }
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {  // /metrics: on loopback
    auto open = c.Get(path);
    ASSERT_TRUE(open) << path;
    EXPECT_EQ(open->status, 200) << path;
  }
  server.stop();
  thread.join();
}

TEST(AnalyticsService, RefusesToServeBeyondLoopbackWithoutAToken) {
  AnalyticsConfig config;
  config.http_addr = "0.0.0.0";
  config.http_port = 0;
  Service service(config);
  EXPECT_EQ(service.Run([] { return true; }), 2);
}

}  // namespace
}  // namespace chansum::analytics
