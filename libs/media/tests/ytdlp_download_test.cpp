// Download and Discover with the real yt-dlp against an in-process HTTP server on 127.0.0.1.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "chansum/media/ytdlp.hpp"
#include "test_media.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::MakeTestVideo;
using testing::TempDir;

class LocalServer {
 public:
  explicit LocalServer(const fs::path& root) {
    server_.set_tcp_nodelay(true);
    server_.set_mount_point("/", root.string());
    server_.Get("/e500/.*", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("boom", "text/plain");
    });
    server_.Get("/slow/.*", [this](const httplib::Request&, httplib::Response& res) {
      for (int i = 0; i < 300 && !stopping_; ++i) std::this_thread::sleep_for(20ms);
      res.status = 503;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) std::this_thread::sleep_for(5ms);
  }
  ~LocalServer() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  [[nodiscard]] int Port() const { return port_; }

 private:
  httplib::Server server_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
  std::thread thread_;
};

class YtDlpLocal : public ::testing::Test {
 protected:
  void SetUp() override {
    // A proxy in the environment must not intercept loopback requests.
    ::setenv("no_proxy", "127.0.0.1,localhost", 1);  // NOLINT(concurrency-mt-unsafe): no thread yet
    ::setenv("NO_PROXY", "127.0.0.1,localhost", 1);  // NOLINT(concurrency-mt-unsafe): no thread yet
    ASSERT_TRUE(MakeTestVideo(site_.path() / "v1.mp4", 2));
    server_ = std::make_unique<LocalServer>(site_.path());
    ASSERT_GT(server_->Port(), 0);
  }
  void TearDown() override { server_.reset(); }

  static int CountEntries(const fs::path& dir) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      (void)e;
      ++n;
    }
    return n;
  }

  TempDir site_;
  TempDir media_;
  std::unique_ptr<LocalServer> server_;
};

TEST_F(YtDlpLocal, DownloadWritesMediaIntoTheVideosDirectory) {
  auto r = Download(server_->Url("/v1.mp4"), "demo-v1", media_.path(), YtDlpOptions{});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->path, media_.path() / "demo-v1" / "media.mp4");
  ASSERT_TRUE(fs::exists(r->path));
  EXPECT_EQ(r->bytes, fs::file_size(site_.path() / "v1.mp4"));
  EXPECT_EQ(fs::file_size(r->path), fs::file_size(site_.path() / "v1.mp4"));
  EXPECT_EQ(CountEntries(media_.path() / "demo-v1"), 1);  // no temporary directory left

  // Again (a redelivered command): same place, still one file.
  auto again = Download(server_->Url("/v1.mp4"), "demo-v1", media_.path(), YtDlpOptions{});
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->path, r->path);
  EXPECT_EQ(CountEntries(media_.path() / "demo-v1"), 1);
}

TEST_F(YtDlpLocal, UnsafeIdIsSanitizedIntoOneDirectory) {
  auto r = Download(server_->Url("/v1.mp4"), "../../escape", media_.path(), YtDlpOptions{});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->path.parent_path().parent_path(), media_.path());
  EXPECT_EQ(r->path.parent_path().filename(), SanitizeId("../../escape"));
}

TEST_F(YtDlpLocal, MediaOverTheSizeLimitFailsPermanentlyAndLeavesNothing) {
  const auto size = static_cast<std::int64_t>(fs::file_size(site_.path() / "v1.mp4"));
  YtDlpOptions options;
  options.max_media_bytes = size - 1;
  auto r = Download(server_->Url("/v1.mp4"), "too-big", media_.path(), options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
  EXPECT_EQ(r.error().code, "media_too_large") << r.error().ToString();
  EXPECT_NE(r.error().message.find("MAX_MEDIA_BYTES"), std::string::npos) << r.error().message;
  EXPECT_EQ(CountEntries(media_.path() / "too-big"), 0);  // no media file, no temporary dir

  // At the limit it downloads.
  options.max_media_bytes = size;
  auto ok = Download(server_->Url("/v1.mp4"), "just-fits", media_.path(), options);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
}

TEST_F(YtDlpLocal, MissingVideoIsPermanent) {
  auto r = Download(server_->Url("/missing.mp4"), "gone", media_.path(), YtDlpOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
  EXPECT_EQ(r.error().code, "not_found");
  EXPECT_NE(r.error().message.find("HTTP Error 404"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("please report"), std::string::npos);
  EXPECT_EQ(CountEntries(media_.path() / "gone"), 0);
}

TEST_F(YtDlpLocal, ServerErrorAndRefusedConnectionAreTransient) {
  auto r = Download(server_->Url("/e500/v.mp4"), "flaky", media_.path(), YtDlpOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().cls, ErrorClass::kTransient) << r.error().ToString();
  EXPECT_EQ(r.error().code, "server_error");

  // A port nobody listens on: bind a socket to an ephemeral port without listening, close it.
  int closed_port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    closed_port = ntohs(addr.sin_port);
    ::close(fd);
  }
  auto refused = Download("http://127.0.0.1:" + std::to_string(closed_port) + "/v.mp4", "nohost",
                          media_.path(), YtDlpOptions{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().cls, ErrorClass::kTransient) << refused.error().ToString();
  EXPECT_EQ(refused.error().code, "network");
}

TEST_F(YtDlpLocal, StopRequestCancelsADownload) {
  std::atomic<bool> stop{false};
  YtDlpOptions opts;
  opts.kill_grace = 500ms;
  opts.should_stop = [&] { return stop.load(); };
  std::thread stopper([&] {
    std::this_thread::sleep_for(700ms);
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = Download(server_->Url("/slow/v.mp4"), "slow", media_.path(), opts);
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "canceled");
  EXPECT_TRUE(r.error().transient());
}

TEST_F(YtDlpLocal, DiscoverReadsAnRssFeed) {
  const std::string feed =
      R"(<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Local Feed</title><link>)" +
      server_->Url("/") + R"(</link><description>d</description>
<item><title>One</title><link>)" +
      server_->Url("/v1.mp4") +
      R"(</link><guid>feed-1</guid><pubDate>Mon, 06 Mar 2023 10:00:00 +0000</pubDate>
<enclosure url=")" +
      server_->Url("/v1.mp4") +
      R"(" length="1" type="video/mp4"/></item>
<item><title>Two</title><link>)" +
      server_->Url("/v2.mp4") +
      R"(</link><guid>feed-2</guid>
<enclosure url=")" +
      server_->Url("/v2.mp4") +
      R"(" length="1" type="video/mp4"/></item>
<item><title>Three</title><link>)" +
      server_->Url("/v3.mp4") +
      R"(</link><guid>feed-3</guid>
<enclosure url=")" +
      server_->Url("/v3.mp4") +
      R"(" length="1" type="video/mp4"/></item>
</channel></rss>
)";
  std::ofstream(site_.path() / "feed.xml") << feed;
  auto all = Discover(server_->Url("/feed.xml"), 10, YtDlpOptions{});
  ASSERT_TRUE(all.ok()) << all.error().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "feed-1");
  EXPECT_EQ((*all)[0].title, "One");
  EXPECT_EQ((*all)[0].url, server_->Url("/v1.mp4"));
  EXPECT_EQ((*all)[0].published_at, "2023-03-06T10:00:00Z");
  EXPECT_EQ((*all)[2].id, "feed-3");

  auto two = Discover(server_->Url("/feed.xml"), 2, YtDlpOptions{});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);

  // The discovered URL downloads.
  auto file = Download((*all)[0].url, (*all)[0].id, media_.path(), YtDlpOptions{});
  ASSERT_TRUE(file.ok()) << file.error().ToString();
  EXPECT_EQ(file->path, media_.path() / "feed-1" / "media.mp4");

  auto missing = Discover(server_->Url("/nofeed.xml"), 5, YtDlpOptions{});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
}

TEST(YtDlp, RejectsUnsafeUrlsBeforeRunning) {
  TempDir media;
  for (const char* url : {"--exec=touch /tmp/x", "-o", "file:///etc/passwd", "http://h/\n"}) {
    auto d = Download(url, "x", media.path(), YtDlpOptions{});
    ASSERT_FALSE(d.ok()) << url;
    EXPECT_EQ(d.error().code, "invalid_url");
    auto l = Discover(url, 5, YtDlpOptions{});
    ASSERT_FALSE(l.ok()) << url;
    EXPECT_EQ(l.error().code, "invalid_url");
  }
  YtDlpOptions missing;
  missing.binary = "chansum-no-yt-dlp-here";
  auto r = Discover("http://127.0.0.1:9/feed.xml", 5, missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "chansum-no-yt-dlp-here: not found");
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
}

TEST(YtDlpOptions, FromEnv) {
  ConfigReader env(std::map<std::string, std::string>{{"YTDLP_BIN", "/usr/local/bin/yt-dlp"},
                                                      {"YTDLP_TIMEOUT", "2m"},
                                                      {"YTDLP_DISCOVER_TIMEOUT", "45s"},
                                                      {"YTDLP_SOCKET_TIMEOUT", "10s"},
                                                      {"YTDLP_FORMAT", "worstaudio"}});
  const auto o = YtDlpOptions::FromEnv(env);
  EXPECT_TRUE(env.problems().empty());
  EXPECT_EQ(o.binary, "/usr/local/bin/yt-dlp");
  EXPECT_EQ(o.download_timeout, std::chrono::minutes(2));
  EXPECT_EQ(o.discover_timeout, std::chrono::seconds(45));
  EXPECT_EQ(o.socket_timeout, std::chrono::seconds(10));
  EXPECT_EQ(o.format, "worstaudio");
  const auto d = YtDlpOptions{};
  EXPECT_EQ(d.binary, "yt-dlp");
}

TEST(YtDlpOptions, UseEgressProxySetsTheProxyAsTheEgressOne) {
  YtDlpOptions o;
  EXPECT_FALSE(o.egress_proxy);
  o.UseEgressProxy("http://127.0.0.1:4711");
  EXPECT_EQ(o.proxy, "http://127.0.0.1:4711");
  EXPECT_TRUE(o.egress_proxy);
}

}  // namespace
}  // namespace chansum::media
