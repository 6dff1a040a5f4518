// Server-side request forgery through a feed: the entries of a feed on an allow-listed loopback
// server that point at a loopback port outside the allow-list (in several spellings) end as
// failed videos whose error says why, and nothing ever connects to that port. Every address here
// is loopback: even a broken defence sends no packet off this machine.
#include <array>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/testing/http_site.hpp"
#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using chansum::testing::HttpSite;
using nlohmann::json;

// The stack the services need (the tests fail, not skip, without it).
bool StackConfigured() {
  for (const char* v : {"DATABASE_URL", "AMQP_URL", "MONGO_URI"}) {
    if (testing::RequireEnv(v).empty()) return false;
  }
  return true;
}

// A site with no route: every request it gets is counted and answered 404.
void NoRoutes(httplib::Server&, HttpSite&) {}

// A site serving `feed` at /feed.xml.
std::function<void(httplib::Server&, HttpSite&)> ServesFeed(const std::string& feed) {
  return [feed](httplib::Server& server, HttpSite&) {
    server.Get("/feed.xml", [feed](const httplib::Request&, httplib::Response& res) {
      res.set_content(feed, "application/rss+xml");
    });
  };
}

std::string Item(const std::string& id, const std::string& url) {
  return "    <item>\n      <title>" + id + "</title>\n      <link>" + url +
         "</link>\n      <guid isPermaLink=\"false\">" + id +
         "</guid>\n      <pubDate>Mon, 06 Mar 2023 10:00:00 +0000</pubDate>\n" +
         "      <enclosure url=\"" + url + "\" type=\"video/mp4\" length=\"1000\"/>\n    </item>\n";
}

// An RSS feed of `items` (Item's).
std::string Rss(const std::string& title, const std::string& description,
                const std::string& items) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n  <channel>\n"
         "    <title>" +
         title + "</title>\n    <link>http://127.0.0.1/</link>\n    <description>" + description +
         "</description>\n" + items + "  </channel>\n</rss>\n";
}

// Where the redirecting items lead, all into the services' network: the loopback port
// `forbidden` listens on, by address and by a name (internal.test), and the link-local metadata
// address (metadata.test). The names resolve through kStaticHosts.
constexpr std::array<const char*, 3> kRedirects = {"to-loopback", "to-name", "to-metadata"};
constexpr const char* kStaticHosts = "internal.test=127.0.0.1,metadata.test=169.254.169.254";

std::string RedirectTarget(const std::string& name, const HttpSite& forbidden) {
  const std::string port = std::to_string(forbidden.Port());
  if (name == "to-loopback") return "http://127.0.0.1:" + port + "/media/x.mp4";
  if (name == "to-name") return "http://internal.test:" + port + "/media/x.mp4";
  return "http://metadata.test/latest/meta-data/";
}

// A site whose `path_of(name)` redirects to RedirectTarget(name) for each of kRedirects.
std::function<void(httplib::Server&, HttpSite&)> Redirects(
    const HttpSite& forbidden, const std::function<std::string(const std::string&)>& path_of) {
  return [&forbidden, path_of](httplib::Server& server, HttpSite&) {
    for (const std::string name : kRedirects) {
      server.Get(path_of(name), [target = RedirectTarget(name, forbidden)](const httplib::Request&,
                                                                           httplib::Response& res) {
        res.set_redirect(target);
      });
    }
  };
}

// One Item per redirect of `site` (made with Redirects and the same `path_of`).
std::string RedirectItems(const HttpSite& site,
                          const std::function<std::string(const std::string&)>& path_of) {
  std::string items;
  for (const std::string name : kRedirects) items += Item(name, site.Url(path_of(name)));
  return items;
}

// POST /jobs for `channel`: the new job's id, or "" (with a failure recorded).
std::string SubmitJob(httplib::Client& api, const std::string& channel) {
  const json request = {{"channel", channel}, {"max_videos", 20}};
  auto created = api.Post("/jobs", request.dump(), "application/json");
  EXPECT_TRUE(created && created->status == 202) << (created ? created->body : "no answer");
  return created ? json::parse(created->body).value("job_id", "") : std::string();
}

// Starts discovery and download (captions off) that may fetch from the `allowed` sites alone
// (FETCH_ALLOWLIST), with `env` added.
bool StartFetchers(ServiceSet& services, std::initializer_list<const HttpSite*> allowed,
                   std::map<std::string, std::string> env = {}) {
  std::string allow_list;
  for (const auto* site : allowed) {
    allow_list +=
        (allow_list.empty() ? "127.0.0.1:" : ",127.0.0.1:") + std::to_string(site->Port());
  }
  env["FETCH_ALLOWLIST"] = allow_list;
  env["CAPTIONS"] = "false";
  services.extra_env = std::move(env);
  return services.Start({"discovery", "download"});
}

// Waits up to `timeout` for the job to end; false (a failure with the services' logs) if it does
// not. The job last read is left in `job`.
bool JobEnded(httplib::Client& api, const ServiceSet& services, const std::string& job_id,
              json& job, std::chrono::minutes timeout = std::chrono::minutes(3)) {
  const bool ended = e2e::WaitJobEnded(api, job_id, timeout, std::chrono::milliseconds(300), &job);
  EXPECT_TRUE(ended) << "job did not finish: " << job.dump(2) << "\n" << services.Logs();
  return ended;
}

// Checks that each of the job's `count` videos failed permanently at download with a refused
// destination; gives each one's error by its source id.
std::map<std::string, std::string> RefusedAtDownload(const json& job, std::size_t count) {
  std::map<std::string, std::string> errors;
  EXPECT_EQ(job.at("videos").size(), count) << job.dump(2);
  for (const auto& v : job.at("videos")) {
    EXPECT_EQ(v.at("state"), "failed") << v.dump();
    EXPECT_EQ(v.at("stage"), "download") << v.dump();
    EXPECT_EQ(v.at("error_class"), "permanent") << v.dump();
    const auto error = v.at("last_error").is_string() ? v.at("last_error").get<std::string>() : "";
    EXPECT_NE(error.find("is not allowed"), std::string::npos) << v.dump();
    errors[v.value("source_id", "")] = error;
  }
  return errors;
}

TEST(SsrfE2E, FeedEntriesIntoTheServicesNetworkFailWithTheReasonAndAreNeverFetched) {
  ASSERT_TRUE(StackConfigured());
  HttpSite forbidden(NoRoutes);  // a port that is open, but not allow-listed
  const std::string fp = std::to_string(forbidden.Port());
  // An allow-listed media server that answers 404: the allowed entry is fetched and fails there.
  HttpSite allowed_media(NoRoutes);
  HttpSite feed_server(
      ServesFeed(Rss("ssrf", "entries pointing into the services' network",
                     Item("allowed", allowed_media.Url("/media/allowed.mp4")) +
                         Item("loopback", "http://127.0.0.1:" + fp + "/media/loopback.mp4") +
                         Item("hex", "http://0x7f.1:" + fp + "/media/hex.mp4") +
                         Item("decimal", "http://2130706433:" + fp + "/media/decimal.mp4") +
                         Item("localhost", "http://localhost:" + fp + "/media/localhost.mp4") +
                         Item("ipv6", "http://[::ffff:127.0.0.1]:" + fp + "/media/ipv6.mp4"))));

  ServiceSet services;
  ASSERT_TRUE(StartFetchers(services, {&feed_server, &allowed_media}));
  auto api = services.Api();
  const auto job_id = SubmitJob(api, feed_server.Url("/feed.xml"));
  ASSERT_FALSE(job_id.empty());
  json job;
  ASSERT_TRUE(JobEnded(api, services, job_id, job));

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
  EXPECT_GE(allowed_media.Requests(), 1) << "the allowed entry was never fetched";
  EXPECT_EQ(forbidden.Requests(), 0) << "a refused destination was connected to";
  services.Stop();
}

// A feed enclosure on an allow-listed server that redirects into the services' network: the
// direct download (libcurl) checks every hop and the address it would connect to, so the video
// fails with the reason and the target gets no connection. yt-dlp, which follows redirects
// itself, fetched it (DIRECT_DOWNLOAD=false makes this test fail).
TEST(SsrfE2E, MediaRedirectsIntoTheServicesNetworkAreRefusedBeforeAnyConnect) {
  ASSERT_TRUE(StackConfigured());
  HttpSite forbidden(NoRoutes);  // open, not allow-listed
  const auto media_path = [](const std::string& name) { return "/media/" + name + ".mp4"; };
  HttpSite media(Redirects(forbidden, media_path));
  HttpSite feed_server(
      ServesFeed(Rss("redirects", "enclosures redirecting into the services' network",
                     RedirectItems(media, media_path))));

  ServiceSet services;
  // Names resolved by the check without DNS (and pinned for the download's connection).
  ASSERT_TRUE(
      StartFetchers(services, {&feed_server, &media}, {{"FETCH_STATIC_HOSTS", kStaticHosts}}));
  auto api = services.Api();
  const auto job_id = SubmitJob(api, feed_server.Url("/feed.xml"));
  ASSERT_FALSE(job_id.empty());
  json job;
  ASSERT_TRUE(JobEnded(api, services, job_id, job));
  RefusedAtDownload(job, kRedirects.size());
  EXPECT_GE(media.Requests(), 3) << "the allow-listed enclosures were never fetched";
  EXPECT_EQ(forbidden.Requests(), 0) << "a redirect target was connected to";
  services.Stop();
}

// yt-dlp's own fetches (issue 18 §4.4): with direct downloads off, yt-dlp fetches each feed item
// and follows its redirect itself; the egress proxy it is given checks every hop, so the items
// that redirect into the services' network fail at download with the proxy's reason, and a channel
// URL that redirects there fails the discovery's job. With YTDLP_EGRESS_PROXY=0 yt-dlp fetched
// the loopback target (the second job's forbidden request count makes this test fail). Names
// resolve through FETCH_STATIC_HOSTS, in the proxy: yt-dlp resolves nothing itself.
TEST(SsrfE2E, YtDlpRedirectsIntoTheServicesNetworkFailWithTheReason) {
  ASSERT_TRUE(StackConfigured());
  HttpSite forbidden(NoRoutes);  // open, not allow-listed
  const auto page_path = [](const std::string& name) { return "/page/" + name; };
  const auto redirects = Redirects(forbidden, page_path);
  const std::string moved_to = forbidden.Url("/feed.xml");
  HttpSite pages([&](httplib::Server& server, HttpSite& self) {
    redirects(server, self);
    server.Get("/moved.xml", [moved_to](const httplib::Request&, httplib::Response& res) {
      res.set_redirect(moved_to);
    });
  });
  HttpSite feed_server(
      ServesFeed(Rss("yt-dlp redirects", "items redirecting into the services' network",
                     RedirectItems(pages, page_path))));

  ServiceSet services;
  ASSERT_TRUE(StartFetchers(services, {&feed_server, &pages},
                            {{"FETCH_STATIC_HOSTS", kStaticHosts},
                             {"DIRECT_DOWNLOAD", "false"}}));  // every fetch is yt-dlp's
  auto api = services.Api();
  const auto videos_job = SubmitJob(api, feed_server.Url("/feed.xml"));
  const auto moved_job = SubmitJob(api, pages.Url("/moved.xml"));
  ASSERT_FALSE(videos_job.empty());
  ASSERT_FALSE(moved_job.empty());

  json job;
  ASSERT_TRUE(JobEnded(api, services, videos_job, job));
  for (const auto& [source_id, error] : RefusedAtDownload(job, kRedirects.size())) {
    EXPECT_NE(error.find("a fetch was refused: destination"), std::string::npos) << error;
    EXPECT_NE(error.find(source_id == "to-metadata" ? "link-local" : "loopback"), std::string::npos)
        << source_id << ": " << error;
  }
  EXPECT_GE(pages.Requests(), 3) << "the allow-listed pages were never fetched";

  json moved;
  ASSERT_TRUE(JobEnded(api, services, moved_job, moved, std::chrono::minutes(2)));
  EXPECT_EQ(moved.at("state"), "failed") << moved.dump(2);
  ASSERT_TRUE(moved.at("error").is_string()) << moved.dump(2);
  EXPECT_NE(moved.at("error").get<std::string>().find("is not allowed"), std::string::npos)
      << moved.dump(2);
  EXPECT_EQ(moved.value("error_class", ""), "permanent") << moved.dump(2);
  EXPECT_EQ(forbidden.Requests(), 0) << "a redirect target was fetched";
  services.Stop();
}

}  // namespace
}  // namespace chansum::e2e
