#include "chansum/media/webvtt.hpp"

#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

namespace chansum::media {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(CHANSUM_MEDIA_FIXTURES) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(WebVtt, AutoCaptionsLoseTheirRollingDuplicates) {
  auto segments = ParseCaptionSegments(Fixture("youtube_auto_captions.en.vtt"));
  ASSERT_TRUE(segments.ok()) << segments.error().ToString();
  const std::vector<CaptionSegment> want = {
      {0.03, 2.47, "hey everyone welcome back"},
      {2.48, 5.15, "to the channel today"},
      {5.16, 8.0, "we talk about honeybees"},
      {8.01, 11.3, "and why [ __ ] flowers need them"},
  };
  ASSERT_EQ(segments->size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR((*segments)[i].start, want[i].start, 1e-9) << i;
    EXPECT_NEAR((*segments)[i].end, want[i].end, 1e-9) << i;
    EXPECT_EQ((*segments)[i].text, want[i].text) << i;
  }
}

TEST(WebVtt, AutoCaptionCuesKeepEveryRepeatBeforeDeduplication) {
  auto cues = ParseWebVtt(Fixture("youtube_auto_captions.en.vtt"));
  ASSERT_TRUE(cues.ok());
  ASSERT_EQ(cues->size(), 7U);
  EXPECT_EQ((*cues)[0].lines, std::vector<std::string>{"hey everyone welcome back"});
  EXPECT_EQ((*cues)[2].lines,
            (std::vector<std::string>{"hey everyone welcome back", "to the channel today"}));
  EXPECT_NEAR((*cues)[1].end - (*cues)[1].start, 0.01, 1e-9);
}

TEST(WebVtt, AutoCaptionLinesSplitWhereTheWordTimestampsShowAPause) {
  // "nine" is said at 1.0 s, "the" only at 1.8 s: a pause of about 0.6 s after "nine" (the line's
  // pace is about 0.05 s per character). The second line follows a gap between the cues.
  const std::string vtt =
      "WEBVTT\n\n"
      "00:00:00.000 --> 00:00:02.200 align:start position:0%\n \n"
      "in<00:00:00.150><c> july</c><00:00:00.400><c> sixty</c><00:00:00.700><c> nine</c>"
      "<00:00:01.800><c> the</c><00:00:02.000><c> apollo</c>\n\n"
      "00:00:02.200 --> 00:00:02.210 align:start position:0%\nin july sixty nine the apollo\n \n\n"
      "00:00:02.900 --> 00:00:04.000 align:start position:0%\nin july sixty nine the apollo\n"
      "moon<00:00:03.200><c> landing</c>\n\n";
  auto cues = ParseWebVtt(vtt);
  ASSERT_TRUE(cues.ok());
  ASSERT_EQ((*cues)[0].word_starts.size(), 1U);
  const std::vector<double> want = {0.0, 0.15, 0.4, 0.7, 1.8, 2.0};
  ASSERT_EQ((*cues)[0].word_starts[0].size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR((*cues)[0].word_starts[0][i], want[i], 1e-9) << i;
  }
  EXPECT_TRUE((*cues)[1].word_starts.empty());  // no timestamps in the repeat
  auto segments = CaptionSegments(*cues);
  ASSERT_EQ(segments.size(), 3U);
  EXPECT_EQ(segments[0].text, "in july sixty nine");
  EXPECT_DOUBLE_EQ(segments[0].start, 0.0);
  EXPECT_LT(segments[0].end, 1.8 - kCaptionPauseSeconds);  // the pause is a gap
  EXPECT_GT(segments[0].end, 0.7);
  EXPECT_EQ(segments[1].text, "the apollo");
  EXPECT_NEAR(segments[1].start, 1.8, 1e-9);
  EXPECT_DOUBLE_EQ(segments[1].end, 2.2);
  EXPECT_EQ(segments[2].text, "moon landing");
  EXPECT_NEAR(segments[2].start, 2.9, 1e-9);

  // Timestamps that do not match the words (punctuation after a closing tag) are not used.
  auto odd =
      ParseWebVtt("WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nsixty<00:00:02.500><c> nine</c>.\n");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE((*odd)[0].word_starts.empty() || (*odd)[0].word_starts[0].empty());
  EXPECT_EQ(CaptionSegments(*odd).size(), 1U);
}

TEST(WebVtt, ManualCaptionsBlocksTagsEntitiesAndBrokenCues) {
  auto cues = ParseWebVtt(Fixture("manual_captions.en.vtt"));
  ASSERT_TRUE(cues.ok()) << cues.error().ToString();
  ASSERT_EQ(cues->size(), 4U);  // STYLE, NOTE and the broken timing are not cues
  EXPECT_EQ((*cues)[0].lines, std::vector<std::string>{"Honeybees are important for farming."});
  EXPECT_DOUBLE_EQ((*cues)[0].start, 1.0);
  EXPECT_DOUBLE_EQ((*cues)[0].end, 4.5);
  EXPECT_EQ((*cues)[1].lines, (std::vector<std::string>{"A worker bee visits hundreds of flowers",
                                                        "every day & collects nectar."}));
  EXPECT_DOUBLE_EQ((*cues)[2].start, 9.25);
  EXPECT_DOUBLE_EQ((*cues)[2].end, 9.25);  // clamped
  EXPECT_DOUBLE_EQ((*cues)[3].start, 62.0);
  EXPECT_DOUBLE_EQ((*cues)[3].end, 65.0);

  auto segments = CaptionSegments(*cues);
  ASSERT_EQ(segments.size(), 5U);
  EXPECT_EQ(segments[1].text, "A worker bee visits hundreds of flowers");
  EXPECT_EQ(segments[2].text, "every day & collects nectar.");
  EXPECT_DOUBLE_EQ(segments[2].start, 4.5);
}

TEST(WebVtt, GrowingLinesKeepTheLongestVersion) {
  const std::string vtt =
      "WEBVTT\n\n00:00.000 --> 00:01.000\nso today\n\n00:01.000 --> 00:02.000\nso today we\n\n"
      "00:02.000 --> 00:03.000\nso today we talk\n\n00:03.000 --> 00:04.000\nabout bees\n";
  auto segments = ParseCaptionSegments(vtt);
  ASSERT_TRUE(segments.ok());
  ASSERT_EQ(segments->size(), 2U);
  EXPECT_EQ((*segments)[0].text, "so today we talk");
  EXPECT_DOUBLE_EQ((*segments)[0].start, 0.0);
  EXPECT_DOUBLE_EQ((*segments)[0].end, 3.0);
  EXPECT_EQ((*segments)[1].text, "about bees");
}

TEST(WebVtt, CrlfBomAndLongHours) {
  const std::string vtt =
      "\xEF\xBB\xBFWEBVTT - title\r\n\r\n100:00:01.500 --> 100:00:02.000\r\nline one\r\n";
  auto cues = ParseWebVtt(vtt);
  ASSERT_TRUE(cues.ok());
  ASSERT_EQ(cues->size(), 1U);
  EXPECT_DOUBLE_EQ((*cues)[0].start, 360001.5);
  EXPECT_EQ((*cues)[0].lines, std::vector<std::string>{"line one"});
}

// Found by tests/fuzz/vtt_fuzz: the fields were ints, so 2147483648 hours became a negative start
// and end, and 4294967296 minutes wrapped to 0 and was accepted.
TEST(WebVtt, TenDigitFieldsNeverWrap) {
  auto cues =
      ParseWebVtt("WEBVTT\n\n2147483648:00:00.000 --> 2147483648:00:01.000\nten-digit hours\n");
  ASSERT_TRUE(cues.ok());
  ASSERT_EQ(cues->size(), 1U);
  EXPECT_DOUBLE_EQ((*cues)[0].start, 2147483648.0 * 3600);
  EXPECT_DOUBLE_EQ((*cues)[0].end, 2147483648.0 * 3600 + 1);
  auto wrapped = ParseWebVtt("WEBVTT\n\n4294967296:00.000 --> 4294967296:01.000\nwrapped\n");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_TRUE(wrapped->empty()) << "minutes over 59 make a malformed timing: the cue is skipped";
}

TEST(WebVtt, RejectsWhatIsNotWebVtt) {
  EXPECT_FALSE(ParseWebVtt("").ok());
  EXPECT_FALSE(ParseWebVtt("1\n00:00:01,000 --> 00:00:02,000\nsrt\n").ok());
  EXPECT_FALSE(ParseWebVtt("WEBVTTX\n").ok());
  EXPECT_EQ(ParseWebVtt("<html>").error().code, "invalid_webvtt");
  auto empty = ParseWebVtt("WEBVTT\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(WebVtt, CleanCueText) {
  EXPECT_EQ(CleanCueText("so<00:00:00.320><c> today</c>"), "so today");
  EXPECT_EQ(CleanCueText("<b>bold</b>, &lt;tag&gt; &#233;t&#xE9;"),
            "bold, <tag> \xC3\xA9t\xC3\xA9");
  EXPECT_EQ(CleanCueText("  spaced   out  "), "spaced out");
  EXPECT_EQ(CleanCueText("word</c>."), "word.");
  EXPECT_EQ(CleanCueText("unterminated <c tag"), "unterminated");
  EXPECT_EQ(CleanCueText("&unknown; & more"), "&unknown; & more");
}

}  // namespace
}  // namespace chansum::media
