// The dashboard routes over a real cpp-httplib server on a loopback port: the embedded files are
// served with their Content-Type, security and caching headers, revalidation answers 304, and
// unknown or traversing paths get a JSON 404.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "src/routes_dashboard.hpp"
#include "src/web_assets.hpp"

namespace chansum::orchestrator {
namespace {

class DashboardRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterDashboardRoutes(server_, ApiDeps{});
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(server_.is_running());
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Client Client() const { return httplib::Client("127.0.0.1", port_); }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(DashboardAssetsTest, EmbedsEveryFileByteForByte) {
  const auto& assets = web::Assets();
  ASSERT_GE(assets.size(), 4u);
  bool has_index = false;
  for (const auto& a : assets) {
    EXPECT_FALSE(a.body.empty()) << a.path;
    if (a.path == "index.html") {
      has_index = true;
      EXPECT_EQ(a.body.substr(0, 15), "<!doctype html>");
      EXPECT_EQ(a.body.back(), '\n');  // the whole file, not cut at a NUL or a line
      EXPECT_NE(a.body.find("</html>"), std::string_view::npos);
    }
  }
  EXPECT_TRUE(has_index);
}

TEST(DashboardAssetsTest, ContentTypes) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("favicon.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("blob"), "application/octet-stream");
}

TEST_F(DashboardRoutesTest, ServesIndexWithHeaders) {
  auto res = Client().Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-cache");
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(res->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  EXPECT_NE(res->body.find("/ui/app.js"), std::string::npos);
  EXPECT_FALSE(res->get_header_value("ETag").empty());
}

TEST_F(DashboardRoutesTest, ServesAssetsWithTheirTypes) {
  auto js = Client().Get("/ui/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("/jobs/"), std::string::npos);
  auto css = Client().Get("/ui/app.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");
  auto icon = Client().Get("/ui/favicon.svg");
  ASSERT_TRUE(icon);
  EXPECT_EQ(icon->get_header_value("Content-Type"), "image/svg+xml");
}

TEST_F(DashboardRoutesTest, RevalidationAnswers304) {
  auto first = Client().Get("/ui/app.js");
  ASSERT_TRUE(first);
  const auto etag = first->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  auto again = Client().Get("/ui/app.js", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  auto other = Client().Get("/ui/app.js", {{"If-None-Match", "\"0000\""}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  // Different files, different tags.
  auto css = Client().Get("/ui/app.css");
  ASSERT_TRUE(css);
  EXPECT_NE(css->get_header_value("ETag"), etag);
}

TEST_F(DashboardRoutesTest, UnknownAndTraversingPathsAre404) {
  for (const char* path :
       {"/ui/nope.js", "/ui/../api.cpp", "/ui/%2e%2e/CMakeLists.txt", "/ui/.hidden", "/ui/"}) {
    auto res = Client().Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
  }
}

}  // namespace
}  // namespace chansum::orchestrator
