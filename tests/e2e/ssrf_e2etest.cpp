// Server-side request forgery through a feed: the entries of a feed on an allow-listed loopback
// server that point at a loopback port outside the allow-list (in several spellings) end as
// failed videos whose error says why, and nothing ever connects to that port. Every address here
// is loopback: even a broken defence sends no packet off this machine.
#include <atomic>
#include <functional>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;

// A loopback HTTP server that counts the requests it gets.
struct CountingServer {
  httplib::Server server;
  std::thread thread;
  std::atomic<int> requests{0};
  int port = 0;

  explicit CountingServer(const std::string& feed = {},
                          const std::function<void(httplib::Server&)>& routes = {}) {
    if (routes) routes(server);
    server.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
      ++requests;
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.Get("/feed.xml", [feed](const httplib::Request&, httplib::Response& res) {
      if (feed.empty()) {
        res.status = 404;
        return;
      }
      res.set_content(feed, "application/rss+xml");
    });
    port = server.bind_to_any_port("127.0.0.1");  // listening from here on
    thread = std::thread([this] { server.listen_after_bind(); });
  }
  ~CountingServer() {
    server.stop();
    if (thread.joinable()) thread.join();
  }
  CountingServer(const CountingServer&) = delete;
  CountingServer& operator=(const CountingServer&) = delete;
};

std::string Item(const std::string& id, const std::string& url) {
  return "    <item>\n      <title>" + id + "</title>\n      <link>" + url +
         "</link>\n      <guid isPermaLink=\"false\">" + id +
         "</guid>\n      <pubDate>Mon, 06 Mar 2023 10:00:00 +0000</pubDate>\n" +
         "      <enclosure url=\"" + url + "\" type=\"video/mp4\" length=\"1000\"/>\n    </item>\n";
}

TEST(SsrfE2E, FeedEntriesIntoTheServicesNetworkFailWithTheReasonAndAreNeverFetched) {
  for (const char* v : {"DATABASE_URL", "AMQP_URL", "MONGO_URI"}) {
    ASSERT_FALSE(testing::RequireEnv(v).empty());
  }
  CountingServer forbidden;  // a port that is open, but not allow-listed
  const std::string fp = std::to_string(forbidden.port);
  // An allow-listed media server that answers 404: the allowed entry is fetched and fails there.
  CountingServer allowed_media;
  const std::string ap = std::to_string(allowed_media.port);
  const std::string feed =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n  <channel>\n"
      "    <title>ssrf</title>\n    <link>http://127.0.0.1/</link>\n"
      "    <description>entries pointing into the services' network</description>\n" +
      Item("allowed", "http://127.0.0.1:" + ap + "/media/allowed.mp4") +
      Item("loopback", "http://127.0.0.1:" + fp + "/media/loopback.mp4") +
      Item("hex", "http://0x7f.1:" + fp + "/media/hex.mp4") +
      Item("decimal", "http://2130706433:" + fp + "/media/decimal.mp4") +
      Item("localhost", "http://localhost:" + fp + "/media/localhost.mp4") +
      Item("ipv6", "http://[::ffff:127.0.0.1]:" + fp + "/media/ipv6.mp4") +
      "  </channel>\n</rss>\n";
  CountingServer feed_server(feed);

  ServiceSet services;
  services.extra_env = {
      {"FETCH_ALLOWLIST", "127.0.0.1:" + std::to_string(feed_server.port) + ",127.0.0.1:" + ap},
      {"CAPTIONS", "false"}};
  ASSERT_TRUE(services.Start({"discovery", "download"}));
  auto api = services.Api();
  const json request = {
      {"channel", "http://127.0.0.1:" + std::to_string(feed_server.port) + "/feed.xml"},
      {"max_videos", 20}};
  auto created = api.Post("/jobs", request.dump(), "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 202) << created->body;
  const auto job_id = json::parse(created->body).at("job_id").get<std::string>();

  json job;
  const bool finished =
      e2e::WaitJobEnded(api, job_id, std::chrono::minutes(3), std::chrono::milliseconds(300), &job);
  ASSERT_TRUE(finished) << "job did not finish: " << job.dump(2) << "\n" << services.Logs();

  EXPECT_EQ(job.at("state"), "completed_with_errors") << job.dump(2);
  ASSERT_EQ(job.at("videos").size(), 6u)
      << "refused entries are recorded, not dropped: " << job.dump(2);
  for (const auto& v : job.at("videos")) {
    const auto id = v.at("video_id").get<std::string>();
    EXPECT_EQ(v.at("state"), "failed") << v.dump();
    ASSERT_TRUE(v.at("last_error").is_string()) << v.dump();
    const auto error = v.at("last_error").get<std::string>();
    if (v.value("source_id", "") == "allowed") {  // ids are source keys: feed:<guid>:<hash>
      EXPECT_EQ(error.find("not allowed"), std::string::npos) << error;  // fetched: a 404
    } else {
      EXPECT_NE(error.find("is not allowed"), std::string::npos) << id << ": " << error;
      EXPECT_NE(error.find("loopback"), std::string::npos) << id << ": " << error;
      EXPECT_EQ(v.at("error_class"), "permanent") << v.dump();
    }
  }
  EXPECT_GE(allowed_media.requests.load(), 1) << "the allowed entry was never fetched";
  EXPECT_EQ(forbidden.requests.load(), 0) << "a refused destination was connected to";
  services.Stop();
}

// A feed enclosure on an allow-listed server that redirects into the services' network: the
// direct download (libcurl) checks every hop and the address it would connect to, so the video
// fails with the reason and the target gets no connection. yt-dlp, which follows redirects
// itself, fetched it (DIRECT_DOWNLOAD=false makes this test fail).
TEST(SsrfE2E, MediaRedirectsIntoTheServicesNetworkAreRefusedBeforeAnyConnect) {
  for (const char* v : {"DATABASE_URL", "AMQP_URL", "MONGO_URI"}) {
    ASSERT_FALSE(testing::RequireEnv(v).empty());
  }
  CountingServer forbidden;  // open, not allow-listed
  const std::string fp = std::to_string(forbidden.port);
  CountingServer media({}, [fp](httplib::Server& server) {
    server.Get("/media/to-loopback.mp4", [fp](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://127.0.0.1:" + fp + "/media/x.mp4");
    });
    server.Get("/media/to-name.mp4", [fp](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://internal.test:" + fp + "/media/x.mp4");
    });
    server.Get("/media/to-metadata.mp4", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://metadata.test/latest/meta-data/");
    });
  });
  const std::string mp = std::to_string(media.port);
  const std::string feed =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n  <channel>\n"
      "    <title>redirects</title>\n    <link>http://127.0.0.1/</link>\n"
      "    <description>enclosures redirecting into the services' network</description>\n" +
      Item("to-loopback", "http://127.0.0.1:" + mp + "/media/to-loopback.mp4") +
      Item("to-name", "http://127.0.0.1:" + mp + "/media/to-name.mp4") +
      Item("to-metadata", "http://127.0.0.1:" + mp + "/media/to-metadata.mp4") +
      "  </channel>\n</rss>\n";
  CountingServer feed_server(feed);

  ServiceSet services;
  services.extra_env = {
      {"FETCH_ALLOWLIST", "127.0.0.1:" + std::to_string(feed_server.port) + ",127.0.0.1:" + mp},
      // Names resolved by the check without DNS (and pinned for the download's connection).
      {"FETCH_STATIC_HOSTS", "internal.test=127.0.0.1,metadata.test=169.254.169.254"},
      {"CAPTIONS", "false"}};
  ASSERT_TRUE(services.Start({"discovery", "download"}));
  auto api = services.Api();
  const json request = {
      {"channel", "http://127.0.0.1:" + std::to_string(feed_server.port) + "/feed.xml"},
      {"max_videos", 20}};
  auto created = api.Post("/jobs", request.dump(), "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 202) << created->body;
  const auto job_id = json::parse(created->body).at("job_id").get<std::string>();

  json job;
  const bool finished = testing::WaitFor(
      [&] {
        auto r = api.Get("/jobs/" + job_id);
        if (!r || r->status != 200) return false;
        job = json::parse(r->body);
        const auto state = job.at("state").get<std::string>();
        return state != "queued" && state != "running";
      },
      std::chrono::minutes(3), std::chrono::milliseconds(300));
  ASSERT_TRUE(finished) << "job did not finish: " << job.dump(2) << "\n" << services.Logs();
  ASSERT_EQ(job.at("videos").size(), 3u) << job.dump(2);
  for (const auto& v : job.at("videos")) {
    EXPECT_EQ(v.at("state"), "failed") << v.dump();
    EXPECT_EQ(v.at("stage"), "download") << v.dump();
    EXPECT_EQ(v.at("error_class"), "permanent") << v.dump();
    ASSERT_TRUE(v.at("last_error").is_string()) << v.dump();
    const auto error = v.at("last_error").get<std::string>();
    EXPECT_NE(error.find("is not allowed"), std::string::npos) << error;
  }
  EXPECT_GE(media.requests.load(), 3) << "the allow-listed enclosures were never fetched";
  EXPECT_EQ(forbidden.requests.load(), 0) << "a redirect target was connected to";
  services.Stop();
}

// yt-dlp's own fetches (issue 18 §4.4): with direct downloads off, yt-dlp fetches each feed item
// and follows its redirect itself; the egress proxy it is given checks every hop, so the items
// that redirect into the services' network fail at download with the proxy's reason, and a channel
// URL that redirects there fails the discovery's job. With YTDLP_EGRESS_PROXY=0 yt-dlp fetched
// the loopback target (the second job's forbidden request count makes this test fail). Names
// resolve through FETCH_STATIC_HOSTS, in the proxy: yt-dlp resolves nothing itself.
TEST(SsrfE2E, YtDlpRedirectsIntoTheServicesNetworkFailWithTheReason) {
  for (const char* v : {"DATABASE_URL", "AMQP_URL", "MONGO_URI"}) {
    ASSERT_FALSE(testing::RequireEnv(v).empty());
  }
  CountingServer forbidden;  // open, not allow-listed
  const std::string fp = std::to_string(forbidden.port);
  CountingServer pages({}, [fp](httplib::Server& server) {
    server.Get("/page/to-loopback", [fp](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://127.0.0.1:" + fp + "/media/x.mp4");
    });
    server.Get("/page/to-name", [fp](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://internal.test:" + fp + "/media/x.mp4");
    });
    server.Get("/page/to-metadata", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://metadata.test/latest/meta-data/");
    });
    server.Get("/moved.xml", [fp](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://127.0.0.1:" + fp + "/feed.xml");
    });
  });
  const std::string pp = std::to_string(pages.port);
  const std::string feed =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n  <channel>\n"
      "    <title>yt-dlp redirects</title>\n    <link>http://127.0.0.1/</link>\n"
      "    <description>items redirecting into the services' network</description>\n" +
      Item("to-loopback", "http://127.0.0.1:" + pp + "/page/to-loopback") +
      Item("to-name", "http://127.0.0.1:" + pp + "/page/to-name") +
      Item("to-metadata", "http://127.0.0.1:" + pp + "/page/to-metadata") +
      "  </channel>\n</rss>\n";
  CountingServer feed_server(feed);

  ServiceSet services;
  services.extra_env = {
      {"FETCH_ALLOWLIST", "127.0.0.1:" + std::to_string(feed_server.port) + ",127.0.0.1:" + pp},
      {"FETCH_STATIC_HOSTS", "internal.test=127.0.0.1,metadata.test=169.254.169.254"},
      {"DIRECT_DOWNLOAD", "false"},  // every fetch is yt-dlp's
      {"CAPTIONS", "false"}};
  ASSERT_TRUE(services.Start({"discovery", "download"}));
  auto api = services.Api();
  const auto submit = [&](const std::string& channel) {
    const json request = {{"channel", channel}, {"max_videos", 20}};
    auto created = api.Post("/jobs", request.dump(), "application/json");
    EXPECT_TRUE(created && created->status == 202) << (created ? created->body : "no answer");
    return created ? json::parse(created->body).value("job_id", "") : std::string();
  };
  const auto videos_job =
      submit("http://127.0.0.1:" + std::to_string(feed_server.port) + "/feed.xml");
  const auto moved_job = submit("http://127.0.0.1:" + pp + "/moved.xml");
  ASSERT_FALSE(videos_job.empty());
  ASSERT_FALSE(moved_job.empty());

  json job;
  ASSERT_TRUE(e2e::WaitJobEnded(api, videos_job, std::chrono::minutes(3),
                                std::chrono::milliseconds(300), &job))
      << "job did not finish: " << job.dump(2) << "\n"
      << services.Logs();
  ASSERT_EQ(job.at("videos").size(), 3u) << job.dump(2);
  for (const auto& v : job.at("videos")) {
    EXPECT_EQ(v.at("state"), "failed") << v.dump();
    EXPECT_EQ(v.at("stage"), "download") << v.dump();
    EXPECT_EQ(v.at("error_class"), "permanent") << v.dump();
    ASSERT_TRUE(v.at("last_error").is_string()) << v.dump();
    const auto error = v.at("last_error").get<std::string>();
    EXPECT_NE(error.find("a fetch was refused: destination"), std::string::npos) << error;
    EXPECT_NE(error.find("is not allowed"), std::string::npos) << error;
    const auto source_id = v.value("source_id", "");
    EXPECT_NE(error.find(source_id == "to-metadata" ? "link-local" : "loopback"), std::string::npos)
        << source_id << ": " << error;
  }
  EXPECT_GE(pages.requests.load(), 3) << "the allow-listed pages were never fetched";

  json moved;
  ASSERT_TRUE(e2e::WaitJobEnded(api, moved_job, std::chrono::minutes(2),
                                std::chrono::milliseconds(300), &moved))
      << moved.dump(2) << "\n"
      << services.Logs();
  EXPECT_EQ(moved.at("state"), "failed") << moved.dump(2);
  ASSERT_TRUE(moved.at("error").is_string()) << moved.dump(2);
  EXPECT_NE(moved.at("error").get<std::string>().find("is not allowed"), std::string::npos)
      << moved.dump(2);
  EXPECT_EQ(moved.value("error_class", ""), "permanent") << moved.dump(2);
  EXPECT_EQ(forbidden.requests.load(), 0) << "a redirect target was fetched";
  services.Stop();
}

}  // namespace
}  // namespace chansum::e2e
