#include "chansum/asr/words.hpp"

#include <gtest/gtest.h>

namespace chansum::asr {
namespace {

TEST(CleanWordTest, StripsFillersAndPronunciationMarks) {
  EXPECT_EQ(CleanWord("around(2)"), "around");
  EXPECT_EQ(CleanWord("hundred(14)"), "hundred");
  EXPECT_EQ(CleanWord("germany"), "germany");
  EXPECT_EQ(CleanWord("o'clock"), "o'clock");
  EXPECT_EQ(CleanWord("word()"), "word()");  // not a pronunciation mark
  for (const char* filler :
       {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "++BREATH++", "++UH++", "(NULL)", ""}) {
    EXPECT_EQ(CleanWord(filler), std::nullopt) << filler;
  }
}

std::vector<TimedWord> Words(int n, double start, double step = 0.3) {
  std::vector<TimedWord> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({start + i * step, start + (i + 1) * step, "w" + std::to_string(i)});
  }
  return out;
}

TEST(GroupWordsTest, SplitsAtLongPauseAndDropsFillers) {
  std::vector<TimedWord> words = {{0.0, 0.15, "<s>"},  {0.15, 0.5, "the(2)"}, {0.5, 1.0, "press"},
                                  {1.0, 1.9, "<sil>"}, {1.9, 2.4, "europe"},  {2.4, 2.6, "</s>"}};
  auto segs = GroupWords(words);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].text, "the press");
  EXPECT_DOUBLE_EQ(segs[0].start, 0.15);
  EXPECT_DOUBLE_EQ(segs[0].end, 1.0);
  EXPECT_EQ(segs[1].text, "europe");
  EXPECT_DOUBLE_EQ(segs[1].start, 1.9);
  EXPECT_DOUBLE_EQ(segs[1].end, 2.4);
}

TEST(GroupWordsTest, ShortSilenceSplitsOnlyAfterSoftMinimum) {
  auto words = Words(3, 0.0);  // 0.0 .. 0.9
  auto more = Words(3, 1.0);   // a 0.1 s gap: too short, segment too small
  words.insert(words.end(), more.begin(), more.end());
  EXPECT_EQ(GroupWords(words).size(), 1u);

  auto long_run = Words(9, 0.0);  // 0.0 .. 2.7
  auto after = Words(2, 2.8);     // 0.1 s gap after 9 words: split
  long_run.insert(long_run.end(), after.begin(), after.end());
  auto segs = GroupWords(long_run);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_DOUBLE_EQ(segs[1].start, 2.8);
}

TEST(GroupWordsTest, CapsWordsPerSegment) {
  auto segs = GroupWords(Words(45, 0.0));  // no pauses at all
  ASSERT_EQ(segs.size(), 3u);
  for (const auto& s : segs) EXPECT_LE(std::count(s.text.begin(), s.text.end(), ' ') + 1, 20);
  EXPECT_EQ(JoinSegments(segs).substr(0, 6), "w0 w1 ");
}

TEST(GroupWordsTest, OnlyFillersGiveNoSegments) {
  EXPECT_TRUE(GroupWords({{0, 1, "<s>"}, {1, 2, "<sil>"}, {2, 3, "</s>"}}).empty());
  EXPECT_TRUE(GroupWords({}).empty());
}

}  // namespace
}  // namespace chansum::asr
