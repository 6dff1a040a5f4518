#include "src/outputs.hpp"
#include "src/tar_archive.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

namespace chansum::orchestrator {
namespace {

using nlohmann::json;

const json& CaptionsJson() {
  static const json doc = {
      {"source", "captions"},
      {"language", "en"},
      {"engine", "subtitles:manual"},
      {"text", "Honeybees are important. They visit flowers --> daily."},
      {"segments",
       {{{"start", 0.0}, {"end", 2.5}, {"text", "Honeybees are important."}},
        {{"start", 2.5}, {"end", 3661.0405}, {"text", "They visit flowers --> daily."}},
        {{"start", 4000.0}, {"end", 4001.0}, {"text", ""}}}}};
  return doc;
}
const protocol::Transcript& Captions() {
  static const protocol::Transcript transcript =
      protocol::TranscriptFromJson(CaptionsJson()).value();
  return transcript;
}

TEST(Outputs, CueTimes) {
  EXPECT_EQ(FormatCueTime(0, ','), "00:00:00,000");
  EXPECT_EQ(FormatCueTime(3661.0405, '.'), "01:01:01.041");
  EXPECT_EQ(FormatCueTime(-3, ','), "00:00:00,000");
  EXPECT_EQ(FormatCueTime(59.9996, ','), "00:01:00,000");
}

TEST(Outputs, TranscriptFormats) {
  EXPECT_EQ(TranscriptAsText(Captions()),
            "Honeybees are important.\nThey visit flowers --> daily.\n");
  EXPECT_EQ(TranscriptAsSrt(Captions()),
            "1\n00:00:00,000 --> 00:00:02,500\nHoneybees are important.\n\n"
            "2\n00:00:02,500 --> 01:01:01,041\nThey visit flowers -> daily.\n\n");
  EXPECT_EQ(TranscriptAsVtt(Captions()),
            "WEBVTT\nLanguage: en\n\n00:00:00.000 --> 00:00:02.500\nHoneybees are important.\n\n"
            "00:00:02.500 --> 01:01:01.041\nThey visit flowers -> daily.\n\n");
  protocol::Transcript only_text;
  only_text.text = "only text";
  EXPECT_EQ(TranscriptAsText(only_text), "Only text.\n");
  EXPECT_EQ(TranscriptAsSrt(protocol::Transcript{}), "");
}

TEST(Outputs, SummaryMarkdown) {
  protocol::Summary summary;
  summary.summary = "Bees *pollinate* flowers.";
  summary.key_points = {"bees", "flowers"};
  EXPECT_EQ(SummaryAsMarkdown(summary, "Honeybees # 1"),
            "# Honeybees \\# 1\n\nBees \\*pollinate\\* flowers.\n\n## Key points\n\n- bees\n"
            "- flowers\n\n_Summarized by textrank._\n");
}

TEST(Outputs, DigestRanksSharedKeyPointsAndHasOneLinePerVideo) {
  const json view = {
      {"job_id", "j1"},
      {"channel", "@demo"},
      {"state", "completed_with_errors"},
      {"videos",
       {{{"video_id", "a"}, {"title", "Bees"}, {"state", "done"}},
        {{"video_id", "b"}, {"title", "Flowers"}, {"state", "done"}},
        {{"video_id", "c"}, {"title", "Gone"}, {"state", "failed"}, {"last_error", "HTTP 404"}}}}};
  std::map<std::string, protocol::Summary> summaries;
  summaries["a"].summary = "Honeybees visit flowers. They carry pollen.";
  summaries["a"].key_points = {"pollen", "honeybees"};
  summaries["b"].summary = "Flowers need pollen to make seeds. Gardens grow.";
  summaries["b"].key_points = {"Pollen", "seeds"};
  const json digest = BuildDigest(view, summaries, "2026-01-01T00:00:00Z");
  ASSERT_GE(digest["themes"].size(), 1U);
  EXPECT_EQ(digest["themes"][0]["term"], "pollen");
  EXPECT_EQ(digest["themes"][0]["videos"], 2);
  // Then the words both summaries say ("flowers"); "pollen" is taken already, and words of one
  // video ("honeybees", "seeds") are not themes.
  ASSERT_EQ(digest["themes"].size(), 2U) << digest["themes"].dump();
  EXPECT_EQ(digest["themes"][1]["term"], "flowers");
  EXPECT_EQ(digest["themes"][1]["videos"], 2);
  EXPECT_FALSE(digest.contains("themes_note"));
  ASSERT_EQ(digest["videos"].size(), 3U);
  EXPECT_EQ(digest["videos"][0]["line"], "Honeybees visit flowers.");
  EXPECT_EQ(digest["videos"][2]["line"], "failed: HTTP 404");
  EXPECT_EQ(digest["videos"][0]["summarized"], true);
  EXPECT_EQ(digest["videos"][2]["summarized"], false);
  EXPECT_EQ(digest["summarized"], 2);
  const std::string md = DigestAsMarkdown(digest);
  EXPECT_NE(md.find("# Channel digest: @demo"), std::string::npos) << md;
  EXPECT_NE(md.find("- pollen (2 videos)"), std::string::npos) << md;
  EXPECT_NE(md.find("- **Flowers**: Flowers need pollen to make seeds."), std::string::npos) << md;
}

TEST(Outputs, DigestSaysSoWhenNoThemeRecurs) {
  const json view = {{"job_id", "j2"},
                     {"channel", "@demo"},
                     {"state", "completed"},
                     {"videos",
                      {{{"video_id", "coffee"}, {"title", "Coffee Roasting"}, {"state", "done"}},
                       {{"video_id", "bees"}, {"title", ""}, {"state", "done"}}}}};
  std::map<std::string, protocol::Summary> summaries;
  summaries["coffee"].summary = "Roasters heat green coffee beans.";
  summaries["coffee"].key_points = {"coffee", "beans"};
  summaries["bees"].summary = "Honeybees visit flowers.";
  summaries["bees"].key_points = {"bees"};
  const json digest = BuildDigest(view, summaries, "2026-01-01T00:00:00Z");
  EXPECT_TRUE(digest["themes"].empty()) << digest["themes"].dump();
  EXPECT_EQ(digest["themes_note"], "no theme recurs in two or more videos");
  const std::string md = DigestAsMarkdown(digest);
  EXPECT_NE(md.find("## Recurring themes\n\n(no theme recurs in two or more videos)\n"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("(1 video)"), std::string::npos) << md;
  // Titles, and the id only for a video without one.
  EXPECT_NE(md.find("- **Coffee Roasting**: Roasters heat green coffee beans."), std::string::npos)
      << md;
  EXPECT_NE(md.find("- **bees**: Honeybees visit flowers."), std::string::npos) << md;

  // One summarized video: nothing can recur.
  summaries.erase("bees");
  EXPECT_EQ(BuildDigest(view, summaries, "t")["themes_note"],
            "fewer than two videos summarized: no theme can recur");
}

TEST(Outputs, TarArchiveReadsBackWithTar) {
  const std::string big(1500, 'x');
  // Longer than ustar's 100-byte name field (an export's 80-character video id in its folders).
  const std::string long_name = "chansum-12345678/videos/01-" + std::string(100, 'v') + ".md";
  const std::string tar = MakeTar({{"digest.md", "# Digest\n"},
                                   {"videos/01-a.md", big},
                                   {"empty.md", ""},
                                   {long_name, "long\n"}},
                                  1700000000);
  ASSERT_EQ(tar.size() % 512, 0U);
  std::mt19937_64 rng{std::random_device{}()};
  const auto dir =
      std::filesystem::temp_directory_path() / ("chansum-tar-" + std::to_string(rng()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "a.tar", std::ios::binary);
    out << tar;
  }
  const std::string cmd = "tar -xf '" + (dir / "a.tar").string() + "' -C '" + dir.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);  // NOLINT(concurrency-mt-unsafe): one thread
  std::ifstream digest(dir / "digest.md");
  std::string line;
  std::getline(digest, line);
  EXPECT_EQ(line, "# Digest");
  EXPECT_EQ(std::filesystem::file_size(dir / "videos" / "01-a.md"), 1500U);
  EXPECT_EQ(std::filesystem::file_size(dir / "empty.md"), 0U);
  EXPECT_EQ(std::filesystem::file_size(dir / long_name), 5U);
  std::filesystem::remove_all(dir);
}

TEST(Outputs, TarIsHandedOnInBlocksAndStopsWhenTheReceiverDoes) {
  const std::vector<TarEntry> entries = {{"a.md", std::string(100000, 'a')}};
  std::vector<std::size_t> blocks;
  ASSERT_TRUE(WriteTar(entries, 0, [&](std::string_view bytes) {
    blocks.push_back(bytes.size());
    return true;
  }));
  // Never the whole archive at once.
  ASSERT_GT(blocks.size(), 1U);
  EXPECT_LT(*std::max_element(blocks.begin(), blocks.end()), 100000U);

  // A receiver that stops after the first block: the writing fails and ends long before the end.
  std::size_t calls = 0;
  EXPECT_FALSE(WriteTar(entries, 0, [&](std::string_view) { return ++calls < 2; }));
  EXPECT_LT(calls, blocks.size());
}

TEST(Outputs, ExportFileNames) {
  EXPECT_EQ(ExportFileName(1, "printing-press"), "01-printing-press.md");
  EXPECT_EQ(ExportFileName(12, "../a b"), "12-___a_b.md");
}

}  // namespace
}  // namespace chansum::orchestrator
