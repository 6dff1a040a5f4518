// YTDLP_COOKIES_FILE and YTDLP_PROXY: validated at start, passed to every yt-dlp call (discovery,
// download, captions), and never in an error message or a log line. A stand-in yt-dlp (a shell
// script) records its argv and the cookies copy it was given and echoes every argument back in
// an ERROR line, the worst a real program could do.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "chansum/media/subtitles.hpp"
#include "chansum/media/ytdlp.hpp"
#include "test_media.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr const char* kCookieValue = "SAPISID-very-secret-value";
constexpr const char* kProxy = "http://alice:pr0xy-s3cret@127.0.0.1:9";

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string CookiesText() {
  return std::string("# Netscape HTTP Cookie File\n# comment\n\n") +
         ".youtube.com\tTRUE\t/\tTRUE\t1893456000\tSAPISID\t" + kCookieValue + "\n" +
         "#HttpOnly_.youtube.com\tTRUE\t/\tTRUE\t0\tLOGIN_INFO\tabc\n";
}

class YtDlpSecrets : public ::testing::Test {
 protected:
  void SetUp() override {
    cookies_ = dir_.path() / "cookies.txt";
    WriteFile(cookies_, CookiesText());
    ::chmod(cookies_.c_str(), 0400);  // a read-only secret mount
    log_ = dir_.path() / "argv.log";
    fake_ = dir_.path() / "fake-yt-dlp";
    WriteFile(fake_,
              "#!/bin/sh\n"
              "log=\"$(dirname \"$0\")/argv.log\"\n"
              ": > \"$log\"\n"
              "prev=\n"
              "for a in \"$@\"; do\n"
              "  printf '%s\\n' \"$a\" >> \"$log\"\n"
              "  if [ \"$prev\" = --cookies ]; then\n"
              "    printf 'MODE %s\\n' \"$(stat -c %a \"$a\")\" >> \"$log\"\n"
              "    printf 'DIRMODE %s\\n' \"$(stat -c %a \"$(dirname \"$a\")\")\" >> \"$log\"\n"
              "    printf 'COOKIES %s\\n' \"$(grep -c SAPISID \"$a\")\" >> \"$log\"\n"
              "    echo \"# rewritten by yt-dlp\" > \"$a\" || exit 9\n"
              "  fi\n"
              "  prev=\"$a\"\n"
              "done\n"
              "echo \"ERROR: Unable to connect to proxy; args: $*\" >&2\n"
              "exit 1\n");
    fs::permissions(fake_, fs::perms::owner_all);
    options_.binary = fake_.string();
    options_.cookies_file = cookies_.string();
    options_.proxy = kProxy;
  }

  // The argv the stand-in saw, one argument a line, and the cookies copy's path.
  std::vector<std::string> Argv() {
    std::istringstream in(ReadAll(log_));
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  void ExpectSecretsPassedAndHidden(const Error& error) {
    const auto argv = Argv();
    ASSERT_FALSE(argv.empty());
    auto at = [&](const std::string& flag) { return std::find(argv.begin(), argv.end(), flag); };
    ASSERT_NE(at("--proxy"), argv.end());
    EXPECT_EQ(*(at("--proxy") + 1), kProxy);
    ASSERT_NE(at("--cookies"), argv.end());
    const fs::path copy = *(at("--cookies") + 1);
    EXPECT_NE(copy, cookies_) << "yt-dlp writes the jar back: it gets a private copy";
    EXPECT_NE(std::find(argv.begin(), argv.end(), "MODE 600"), argv.end());
    EXPECT_NE(std::find(argv.begin(), argv.end(), "DIRMODE 700"), argv.end());
    EXPECT_NE(std::find(argv.begin(), argv.end(), "COOKIES 1"), argv.end());
    EXPECT_FALSE(fs::exists(copy.parent_path())) << "the private copy is removed after the run";
    EXPECT_EQ(ReadAll(cookies_), CookiesText()) << "the original is never written";
    // The program echoed everything: the message hides the password and both cookie paths.
    EXPECT_TRUE(error.transient()) << error.ToString();
    const std::string text = error.ToString();
    EXPECT_EQ(text.find("pr0xy-s3cret"), std::string::npos) << text;
    EXPECT_EQ(text.find("alice"), std::string::npos) << text;
    EXPECT_EQ(text.find(cookies_.string()), std::string::npos) << text;
    EXPECT_EQ(text.find(copy.string()), std::string::npos) << text;
    EXPECT_NE(text.find("http://***@127.0.0.1:9"), std::string::npos) << text;

    // What the stages log on such a failure (download: "no captions (...)"): no secret either.
    std::ostringstream captured;
    auto logger = std::make_shared<spdlog::logger>(
        "secrets", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
    logger->warn("no captions ({}); downloading the media for ASR", error.ToString());
    logger->flush();
    EXPECT_EQ(captured.str().find("pr0xy-s3cret"), std::string::npos);
    EXPECT_EQ(captured.str().find(kCookieValue), std::string::npos);
  }

  TempDir dir_;
  fs::path cookies_, log_, fake_;
  YtDlpOptions options_;
};

TEST_F(YtDlpSecrets, DiscoverPassesProxyAndCookiesAndHidesThem) {
  auto r = Discover("http://127.0.0.1:9/feed.xml", 5, options_);
  ASSERT_FALSE(r.ok());
  ExpectSecretsPassedAndHidden(r.error());
}

TEST_F(YtDlpSecrets, DownloadPassesProxyAndCookiesAndHidesThem) {
  auto r = Download("http://127.0.0.1:9/v.mp4", "v1", dir_.path() / "media", options_);
  ASSERT_FALSE(r.ok());
  ExpectSecretsPassedAndHidden(r.error());
}

TEST_F(YtDlpSecrets, CaptionsPassProxyAndCookiesAndHideThem) {
  CaptionOptions captions;
  auto r =
      FetchCaptions("http://127.0.0.1:9/v.html", "v1", dir_.path() / "media", options_, captions);
  ASSERT_FALSE(r.ok());
  ExpectSecretsPassedAndHidden(r.error());
}

TEST_F(YtDlpSecrets, WithoutThemNoFlag) {
  options_.cookies_file.clear();
  options_.proxy.clear();
  const auto argv = DiscoverArgs("http://h/feed.xml", 3, options_);
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "--proxy"), argv.end());
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "--cookies"), argv.end());
  options_.proxy = kProxy;
  const auto with = DiscoverArgs("http://h/feed.xml", 3, options_);
  // Before "--": the URL stays the last argument.
  const auto proxy = std::find(with.begin(), with.end(), "--proxy");
  ASSERT_NE(proxy, with.end());
  EXPECT_LT(proxy, std::find(with.begin(), with.end(), "--"));
  EXPECT_EQ(with.back(), "http://h/feed.xml");
  EXPECT_EQ(std::find(with.begin(), with.end(), "--downloader"), with.end());
  // Behind the egress proxy, only yt-dlp's own downloaders (ffmpeg would fetch https HLS/DASH
  // itself, unchecked).
  options_.egress_proxy = true;
  const auto egress = DiscoverArgs("http://h/feed.xml", 3, options_);
  const auto downloader = std::find(egress.begin(), egress.end(), "--downloader");
  ASSERT_NE(downloader, egress.end());
  EXPECT_EQ(*(downloader + 1), "native");
  EXPECT_LT(downloader, std::find(egress.begin(), egress.end(), "--"));
}

TEST(YtDlpSecretConfig, ValidatedAtStartWithoutQuotingSecrets) {
  TempDir dir;
  const fs::path good = dir.path() / "good.txt";
  WriteFile(good, CookiesText());
  const fs::path json = dir.path() / "json.txt";
  WriteFile(json, "[{\"name\": \"SAPISID\", \"value\": \"" + std::string(kCookieValue) + "\"}]\n");
  const fs::path short_line = dir.path() / "short.txt";
  WriteFile(short_line, "# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\t" +
                            std::string(kCookieValue) + "\n");
  const fs::path empty = dir.path() / "empty.txt";
  WriteFile(empty, "# Netscape HTTP Cookie File\n");

  {
    ConfigReader env(std::map<std::string, std::string>{
        {"YTDLP_COOKIES_FILE", good.string()}, {"YTDLP_PROXY", "socks5h://u:p@proxy.lan:1080"}});
    const auto o = YtDlpOptions::FromEnv(env);
    EXPECT_TRUE(env.problems().empty());
    EXPECT_EQ(o.cookies_file, good.string());
    EXPECT_EQ(o.proxy, "socks5h://u:p@proxy.lan:1080");
  }
  for (const auto& bad : {json, short_line, empty, dir.path() / "missing.txt"}) {
    ConfigReader env(std::map<std::string, std::string>{{"YTDLP_COOKIES_FILE", bad.string()}});
    (void)YtDlpOptions::FromEnv(env);
    ASSERT_EQ(env.problems().size(), 1U) << bad;
    EXPECT_EQ(env.problems()[0].rfind("YTDLP_COOKIES_FILE ", 0), 0U) << env.problems()[0];
    EXPECT_EQ(env.problems()[0].find(kCookieValue), std::string::npos) << env.problems()[0];
  }
  for (const std::string bad : {"ftp://bob:hunter2@proxy:21", "http://bob:hunter2@", "-http://x",
                                "proxy.lan:3128", "http://bob:hunter2@proxy:3128/x --exec"}) {
    ConfigReader env(std::map<std::string, std::string>{{"YTDLP_PROXY", bad}});
    (void)YtDlpOptions::FromEnv(env);
    ASSERT_EQ(env.problems().size(), 1U) << bad;
    EXPECT_EQ(env.problems()[0].find("hunter2"), std::string::npos) << env.problems()[0];
  }
  EXPECT_EQ(RedactProxy("http://bob:hunter2@proxy:3128"), "http://***@proxy:3128");
  EXPECT_EQ(RedactProxy("http://proxy:3128"), "http://proxy:3128");
}

}  // namespace
}  // namespace chansum::media
