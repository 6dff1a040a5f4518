#include "chansum/common/logging.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace chansum {
namespace {

TEST(LoggingTest, FormatsOneJsonObjectWithContext) {
  const std::string line = FormatLogLine("download", "info", "said \"hi\"\nbye",
                                         {{"job_id", "j1"}, {"video_id", "v1"}, {"empty", ""}},
                                         "2026-01-01T00:00:00.000Z");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["service"], "download");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "said \"hi\"\nbye");
  EXPECT_EQ(j["job_id"], "j1");
  EXPECT_EQ(j["video_id"], "v1");
  EXPECT_FALSE(j.contains("empty"));
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one line per record";
}

TEST(LoggingTest, InvalidUtf8DoesNotThrow) {
  EXPECT_NO_THROW((void)FormatLogLine("s", "info", std::string("bad \xff byte"), {}, "t"));
}

TEST(LoggingTest, ScopedContextNestsAndRestores) {
  testing::internal::CaptureStderr();
  InitLogging({"ctx-test", "info"});
  {
    ScopedLogContext outer(std::map<std::string, std::string>{{"job_id", "J"}});
    {
      ScopedLogContext inner(std::map<std::string, std::string>{{"video_id", "V"}});
      spdlog::info("inner");
    }
    spdlog::info("outer");
  }
  spdlog::info("none");
  const std::string out = testing::internal::GetCapturedStderr();
  std::vector<nlohmann::json> lines;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto nl = out.find('\n', pos);
    lines.push_back(nlohmann::json::parse(out.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["job_id"], "J");
  EXPECT_EQ(lines[0]["video_id"], "V");
  EXPECT_EQ(lines[1]["job_id"], "J");
  EXPECT_FALSE(lines[1].contains("video_id"));
  EXPECT_FALSE(lines[2].contains("job_id"));
}

TEST(LoggingTest, RedactsUrlPasswords) {
  EXPECT_EQ(RedactUrl("amqp://guest:secret@127.0.0.1:5672/"), "amqp://guest:***@127.0.0.1:5672/");
  EXPECT_EQ(RedactUrl("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(RedactUrl("http://h/x"), "http://h/x");
}

// Issue 18 §4.6: channel and feed URLs carry credentials in their query (?token=, &key=, sig=).
TEST(LoggingTest, RedactsUrlQueryValues) {
  EXPECT_EQ(RedactUrl("https://feeds.example/rss?token=abc&key=k1&sig=s#top"),
            "https://feeds.example/rss?token=***&key=***&sig=***#top");
  EXPECT_EQ(RedactUrl("https://u:p@h/x?flag&empty=&a=1"), "https://u:***@h/x?flag&empty=&a=***");
  // Settings of connection URLs are not secrets.
  EXPECT_EQ(RedactUrl("postgresql://u@h/db?sslmode=disable&password=x"),
            "postgresql://u@h/db?sslmode=disable&password=***");
  // An '@' in the path or query is not a user name.
  EXPECT_EQ(RedactUrl("https://www.youtube.com/@handle/videos"),
            "https://www.youtube.com/@handle/videos");
}

TEST(LoggingTest, EveryLogLineRedactsTheUrlsItCarries) {
  const std::string line = FormatLogLine(
      "orchestrator", "info",
      "job created for channel https://feeds.example/podcast.rss?token=s3cr3t&x=1 (max_videos 3)",
      {{"url", "\"http://h/f?sig=abcdef\""}}, "t");
  EXPECT_EQ(line.find("s3cr3t"), std::string::npos) << line;
  EXPECT_EQ(line.find("abcdef"), std::string::npos) << line;
  EXPECT_NE(line.find("https://feeds.example/podcast.rss?token=***&x=*** (max_videos 3)"),
            std::string::npos)
      << line;
  EXPECT_EQ(RedactUrlsIn("no url: a://"), "no url: a://");
  EXPECT_EQ(RedactUrlsIn("://x?y=1"), "://x?y=1");
}

}  // namespace
}  // namespace chansum
