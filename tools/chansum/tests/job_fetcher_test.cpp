// JobFetcher against a small in-process HTTP server that pages a job like the orchestrator
// (limit 2, videos_next_cursor, ETag, 304 on If-None-Match).
#include <atomic>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "chansum/cli/api_client.hpp"

namespace chansum::cli {
namespace {

using nlohmann::json;

class PagedJobServer {
 public:
  PagedJobServer() {
    server_.Get(R"(/jobs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      const std::string cursor = req.has_param("cursor") ? req.get_param_value("cursor") : "";
      const std::size_t start = cursor.empty() ? 0 : std::stoul(cursor);
      const std::string etag = "\"" + std::to_string(version_) + "-" + std::to_string(start) + "\"";
      requests_.push_back(req.get_header_value("If-None-Match"));
      res.set_header("ETag", etag);
      if (req.get_header_value("If-None-Match") == etag) {
        res.status = 304;
        return;
      }
      json page = {{"job_id", req.matches[1].str()}, {"state", state_}};
      page["videos"] = json::array();
      for (std::size_t i = start; i < states_.size() && i < start + 2; ++i) {
        page["videos"].push_back({{"video_id", "v" + std::to_string(i)}, {"state", states_[i]}});
      }
      page["videos_next_cursor"] =
          start + 2 < states_.size() ? json(std::to_string(start + 2)) : json(nullptr);
      res.set_content(page.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~PagedJobServer() {
    server_.stop();
    thread_.join();
  }
  void SetVideoState(std::size_t i, const std::string& state) {
    std::lock_guard lock(mu_);
    states_[i] = state;
    ++version_;
  }
  std::vector<std::string> TakeRequests() {
    std::lock_guard lock(mu_);
    return std::exchange(requests_, {});
  }
  int port() const { return port_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  int version_ = 1;
  std::string state_ = "running";
  std::vector<std::string> states_ = {"done", "running", "pending"};
  std::vector<std::string> requests_;  // If-None-Match of each request
};

TEST(JobFetcher, FollowsTheCursorAndRevalidatesEveryPage) {
  PagedJobServer server;
  ApiClient client("http://127.0.0.1:" + std::to_string(server.port()), "");
  JobFetcher fetcher(client, "job-1");
  bool changed = false;
  auto first = fetcher.Fetch(nullptr, &changed);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(changed);
  ASSERT_EQ((*first)["videos"].size(), 3U);
  EXPECT_EQ((*first)["videos"][2]["video_id"], "v2");
  EXPECT_TRUE((*first)["videos_next_cursor"].is_null());
  EXPECT_EQ(server.TakeRequests(), (std::vector<std::string>{"", ""}));

  auto same = fetcher.Fetch(nullptr, &changed);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(changed) << "both pages answered 304";
  EXPECT_EQ(*same, *first);
  EXPECT_EQ(server.TakeRequests(), (std::vector<std::string>{"\"1-0\"", "\"1-2\""}));

  server.SetVideoState(2, "running");
  auto after = fetcher.Fetch(nullptr, &changed);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(changed);
  EXPECT_EQ((*after)["videos"][2]["state"], "running");
}

TEST(JobFetcher, ReturnsTheFailedResponse) {
  httplib::Server server;
  server.Get(R"(/jobs/([^/]+))", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(R"({"error":{"code":"job_not_found","message":"no job"}})", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ApiClient client("http://127.0.0.1:" + std::to_string(port), "");
  JobFetcher fetcher(client, "nope");
  HttpResponse failed;
  auto r = fetcher.Fetch(&failed);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(failed.status, 404);
  EXPECT_EQ(ApiErrorMessage(failed), "job_not_found: no job");
  server.stop();
  t.join();
}

}  // namespace
}  // namespace chansum::cli
