// Captions first: language lists, the manual-over-automatic choice, and FetchCaptions with the
// real yt-dlp against an in-process HTTP server serving a page with <video><track> (what Debian's
// yt-dlp 2023.03.04 generic extractor turns into subtitles) and a direct media file (no subtitles).
#include "chansum/media/subtitles.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "test_media.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

TEST(Subtitles, LanguageList) {
  auto ok = ParseLanguageList(" en, en-US ,,en ");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, (std::vector<std::string>{"en", "en-US"}));
  EXPECT_FALSE(ParseLanguageList("").ok());
  EXPECT_FALSE(ParseLanguageList("en,.*").ok());    // yt-dlp reads them as regular expressions
  EXPECT_FALSE(ParseLanguageList("en,-all").ok());  // "-" first would be read as an option
  EXPECT_FALSE(ParseLanguageList("e n").ok());
}

TEST(Subtitles, ManualBeatsAutomaticAndPreferenceOrderCounts) {
  const json info = {{"subtitles", {{"de", json::array()}, {"en-US", json::array()}}},
                     {"automatic_captions", {{"en", json::array()}, {"fr", json::array()}}}};
  auto c = ChooseCaptions(info, {"en", "en-US"}, {"en", "en-US"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->language, "en-US");  // manual, though "en" comes first
  EXPECT_FALSE(c->automatic);
  c = ChooseCaptions(info, {"en"}, {"en", "en-US"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->language, "en");
  EXPECT_TRUE(c->automatic);
  EXPECT_FALSE(ChooseCaptions(info, {}, {"en"}));
  EXPECT_FALSE(ChooseCaptions(info, {"fr"}, {"en"}));  // not a configured language
  // An extractor that lists nothing: what was written counts as manual.
  c = ChooseCaptions(json::object(), {"en"}, {"en"});
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->automatic);
}

class CaptionServer {
 public:
  explicit CaptionServer(const fs::path& root) {
    server_.set_tcp_nodelay(true);
    server_.set_mount_point("/", root.string());
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) std::this_thread::sleep_for(5ms);
  }
  ~CaptionServer() {
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(Subtitles, FetchCaptionsFromAPageWithATrackWithRealYtDlp) {
  testing::TempDir tmp;
  const auto root = tmp.path() / "site";
  fs::create_directories(root / "media");
  ASSERT_TRUE(testing::MakeTestVideo(root / "media" / "v1.mp4", 1));
  std::ofstream(root / "media" / "v1.en.vtt")
      << "WEBVTT\n\n00:00:00.000 --> 00:00:01.000 align:start position:0%\n \n"
         "bees<00:00:00.500><c> fly</c>\n\n00:00:01.000 --> 00:00:01.010\nbees fly\n \n\n"
         "00:00:01.010 --> 00:00:02.000\nbees fly\nto flowers\n";
  std::ofstream(root / "media" / "v1.de.vtt") << "WEBVTT\n\n00:00.000 --> 00:01.000\nBienen\n";
  std::ofstream(root / "v1.html")
      << "<!DOCTYPE html><html><head><title>V1</title></head><body>"
         "<video controls src=\"media/v1.mp4\">"
         "<track kind=\"subtitles\" src=\"media/v1.de.vtt\" srclang=\"de\">"
         "<track kind=\"subtitles\" src=\"media/v1.en.vtt\" srclang=\"en\"></video></body></html>";
  CaptionServer server(root);
  YtDlpOptions ytdlp;
  ytdlp.download_timeout = 60s;
  CaptionOptions options;
  options.languages = {"en-US", "en"};
  const auto media_dir = tmp.path() / "media-dir";

  auto got = FetchCaptions(server.Url("/v1.html"), "v1", media_dir, ytdlp, options);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->language, "en");
  EXPECT_FALSE((*got)->automatic);
  ASSERT_EQ((*got)->segments.size(), 2U);
  EXPECT_EQ((*got)->segments[0].text, "bees fly");
  EXPECT_EQ((*got)->segments[1].text, "to flowers");
  // Nothing left behind: the temporary directory is gone, no media was downloaded.
  for (const auto& e : fs::recursive_directory_iterator(media_dir)) {
    EXPECT_TRUE(e.is_directory()) << "left behind: " << e.path();
  }

  // Another language only: nothing fits.
  options.languages = {"fr"};
  got = FetchCaptions(server.Url("/v1.html"), "v1", media_dir, ytdlp, options);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_FALSE(got->has_value());

  // A direct media file has no subtitles: ASR it is.
  options.languages = {"en"};
  got = FetchCaptions(server.Url("/media/v1.mp4"), "v1", media_dir, ytdlp, options);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_FALSE(got->has_value());

  // Disabled: yt-dlp is not even asked.
  options.enabled = false;
  ytdlp.binary = "/nonexistent/yt-dlp";
  got = FetchCaptions(server.Url("/v1.html"), "v1", media_dir, ytdlp, options);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());

  // A page that does not exist: an error the caller can fall back from.
  options.enabled = true;
  ytdlp.binary = "yt-dlp";
  got = FetchCaptions(server.Url("/nope.html"), "v1", media_dir, ytdlp, options);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, "not_found") << got.error().ToString();
}

}  // namespace
}  // namespace chansum::media
