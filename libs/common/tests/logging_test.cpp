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

}  // namespace
}  // namespace chansum
