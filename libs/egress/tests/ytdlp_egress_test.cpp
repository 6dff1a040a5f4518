// The real yt-dlp given the egress proxy, as the discovery and download stages run it: a listing
// or a media URL on an allow-listed server that redirects to a loopback port outside the allow
// list fails with the permanent destination_not_allowed and the proxy's reason, and the target is
// never connected to. Without the proxy yt-dlp follows the same redirect (the counter-check).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "chansum/egress/proxy.hpp"
#include "chansum/media/ytdlp.hpp"
#include "chansum/testing/http_site.hpp"

namespace chansum::egress {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using chansum::testing::HttpSite;

std::string Feed(const std::string& media_url) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n  <channel>\n"
         "    <title>egress</title>\n    <link>http://127.0.0.1/</link>\n"
         "    <description>d</description>\n    <item>\n      <title>one</title>\n"
         "      <link>" +
         media_url + "</link>\n      <guid isPermaLink=\"false\">one</guid>\n" +
         "      <enclosure url=\"" + media_url +
         "\" type=\"video/mp4\" length=\"1000\"/>\n    </item>\n  </channel>\n</rss>\n";
}

class YtDlpEgress : public ::testing::Test {
 protected:
  void SetUp() override {
    // What an operator's environment may hold: Python would send these hosts around a proxy.
    ::setenv("no_proxy", "127.0.0.1,localhost", 1);  // NOLINT(concurrency-mt-unsafe): no thread yet
    ::setenv("NO_PROXY", "127.0.0.1,localhost", 1);  // NOLINT(concurrency-mt-unsafe): no thread yet
    forbidden_ = std::make_unique<HttpSite>([](httplib::Server& s, HttpSite&) {
      s.Get("/.*", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(Feed("http://127.0.0.1:1/x.mp4"), "application/rss+xml");
      });
    });
    const auto target = forbidden_->Url("/feed.xml");
    site_ = std::make_unique<HttpSite>([target](httplib::Server& s, HttpSite& self) {
      s.Get("/feed.xml", [&self](const httplib::Request&, httplib::Response& res) {
        res.set_content(Feed(self.Url("/media.mp4")), "application/rss+xml");
      });
      s.Get("/moved.xml", [target](const httplib::Request&, httplib::Response& res) {
        res.set_redirect(target);
      });
      s.Get("/media.mp4", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(std::string(std::size_t{64} * 1024, 'm'), "video/mp4");
      });
      s.Get("/moved.mp4", [target](const httplib::Request&, httplib::Response& res) {
        res.set_redirect(target);
      });
    });
    auto allow = net::AllowList::Parse("127.0.0.1:" + std::to_string(site_->Port()));
    ASSERT_TRUE(allow.ok());
    auto proxy = EgressProxy::Start(EgressConfig{}, net::DestinationPolicy(*allow, nullptr));
    ASSERT_TRUE(proxy.ok()) << proxy.error().message;
    proxy_ = std::move(*proxy);
    options_.discover_timeout = 60s;
    options_.download_timeout = 60s;
    options_.socket_timeout = 10s;
  }
  void TearDown() override {
    proxy_.reset();
    site_.reset();
    forbidden_.reset();
  }
  media::YtDlpOptions Proxied() const {
    auto o = options_;
    o.UseEgressProxy(proxy_->Url());
    return o;
  }

  std::unique_ptr<HttpSite> forbidden_;
  std::unique_ptr<HttpSite> site_;
  std::unique_ptr<EgressProxy> proxy_;
  media::YtDlpOptions options_;
};

TEST_F(YtDlpEgress, AnAllowedListingIsFetchedThroughTheProxy) {
  auto entries = media::Discover(site_->Url("/feed.xml"), 10, Proxied());
  ASSERT_TRUE(entries.ok()) << entries.error().ToString();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->front().url, site_->Url("/media.mp4"));
  EXPECT_GE(proxy_->stats().forwarded, 1u) << "yt-dlp went around the proxy";
}

TEST_F(YtDlpEgress, AListingThatRedirectsIntoTheNetworkFailsPermanentlyWithTheReason) {
  auto entries = media::Discover(site_->Url("/moved.xml"), 10, Proxied());
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.error().code, net::kDestinationNotAllowed) << entries.error().ToString();
  EXPECT_FALSE(entries.error().transient());
  EXPECT_NE(entries.error().message.find("is not allowed"), std::string::npos)
      << entries.error().message;
  EXPECT_NE(entries.error().message.find("loopback"), std::string::npos);
  EXPECT_TRUE(entries.error().message.starts_with("yt-dlp: a fetch was refused: destination "))
      << entries.error().message;
  EXPECT_GE(site_->Requests(), 1);
  EXPECT_EQ(forbidden_->Requests(), 0) << "the redirect target was fetched";

  // The counter-check: yt-dlp on its own follows the redirect.
  auto direct = media::Discover(site_->Url("/moved.xml"), 10, options_);
  EXPECT_TRUE(direct.ok());
  EXPECT_GE(forbidden_->Requests(), 1);
}

// yt-dlp's own (native) downloader fetches the media through the proxy: "--downloader native"
// keeps an external one (ffmpeg, which would connect to https streams itself) out of it.
TEST_F(YtDlpEgress, AnAllowedMediaDownloadGoesThroughTheProxy) {
  const auto dir = fs::temp_directory_path() / ("egress-ok-" + std::to_string(::getpid()));
  const auto before = proxy_->stats().forwarded;
  auto file = media::Download(site_->Url("/media.mp4"), "v1", dir, Proxied());
  std::error_code ec;
  const auto size = file.ok() ? fs::file_size(file->path, ec) : 0;
  fs::remove_all(dir, ec);
  ASSERT_TRUE(file.ok()) << file.error().ToString();
  EXPECT_EQ(size, 64u * 1024);
  EXPECT_GT(proxy_->stats().forwarded, before) << "yt-dlp went around the proxy";
}

TEST_F(YtDlpEgress, AMediaDownloadThatRedirectsIntoTheNetworkFailsPermanently) {
  const auto dir = fs::temp_directory_path() / ("egress-test-" + std::to_string(::getpid()));
  auto file = media::Download(site_->Url("/moved.mp4"), "v1", dir, Proxied());
  std::error_code ec;
  fs::remove_all(dir, ec);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().code, net::kDestinationNotAllowed) << file.error().ToString();
  EXPECT_EQ(forbidden_->Requests(), 0) << "the redirect target was fetched";
}

}  // namespace
}  // namespace chansum::egress
