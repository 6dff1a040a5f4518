#include "chansum/service/http_listener.hpp"

#include <gtest/gtest.h>

#include "chansum/service/service.hpp"

namespace chansum::service {
namespace {

class Flag : public Component {
 public:
  const std::string& Name() const override { return name_; }
  std::vector<std::pair<std::string, Status>> Checks() const override {
    return {{"flag", ok ? OkStatus() : Status(Error::Transient("down", "flag is down"))}};
  }
  bool ok = true;

 private:
  std::string name_ = "flag";
};

TEST(HttpListenerTest, ServesHealthFromTheServiceReadiness) {
  Service svc("test");
  auto& flag = svc.Add(std::make_unique<Flag>());
  auto& health = svc.Add(std::make_unique<HttpListener>("health", "127.0.0.1", 0));
  health.ServeHealth([&svc] { return svc.Readiness(); });
  ASSERT_TRUE(svc.Start().ok());
  ASSERT_GT(health.port(), 0);
  httplib::Client client("127.0.0.1", health.port());
  EXPECT_EQ(client.Get("/healthz")->status, 200);
  EXPECT_EQ(client.Get("/readyz")->status, 200);
  flag.ok = false;
  auto res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find("flag is down"), std::string::npos);
  EXPECT_EQ(client.Get("/metrics")->status, 200);
  svc.Stop();
  EXPECT_FALSE(client.Get("/healthz"));
}

// Issue 18 §4.1/§4.6: with API_TOKEN, the probes stay open for compose and Kubernetes but tell a
// caller without the token only which checks fail; /metrics stays open on loopback.
TEST(HttpListenerTest, WithATokenReadinessReasonsNeedIt) {
  Service svc("test");
  auto& flag = svc.Add(std::make_unique<Flag>());
  auto& health = svc.Add(std::make_unique<HttpListener>("health", "127.0.0.1", 0));
  http::AccessConfig access;
  access.api_token = "health-t0ken";
  health.ServeHealth([&svc] { return svc.Readiness(); }, access);
  ASSERT_TRUE(svc.Start().ok());
  flag.ok = false;
  httplib::Client client("127.0.0.1", health.port());
  auto anonymous = client.Get("/readyz");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 503);
  EXPECT_EQ(anonymous->body.find("flag is down"), std::string::npos) << anonymous->body;
  EXPECT_NE(anonymous->body.find("\"flag\":false"), std::string::npos) << anonymous->body;
  auto detailed = client.Get("/readyz", {{"Authorization", "Bearer health-t0ken"}});
  ASSERT_TRUE(detailed);
  EXPECT_NE(detailed->body.find("flag is down"), std::string::npos) << detailed->body;
  EXPECT_EQ(client.Get("/healthz")->status, 200);
  EXPECT_EQ(client.Get("/metrics")->status, 200);  // loopback
  EXPECT_EQ(client.Get("/other")->status, 401);
  svc.Stop();
}

TEST(HttpListenerTest, AnAddressItCannotBindFailsTheStart) {
  HttpListener listener("health", "203.0.113.1", 18080);  // TEST-NET-3: not this host's address
  const Status st = listener.Start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "cannot listen on 203.0.113.1:18080");
  EXPECT_EQ(listener.port(), 0);
  HttpListener optional("health", "203.0.113.1", 18080, /*required=*/false);
  EXPECT_TRUE(optional.Start().ok());
  EXPECT_EQ(optional.port(), 0);
}

}  // namespace
}  // namespace chansum::service
