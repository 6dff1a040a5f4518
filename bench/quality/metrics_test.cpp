#include "metrics.hpp"

#include <gtest/gtest.h>

namespace chansum::quality {
namespace {

TEST(NormalizeWords, LowercasesAndSplitsAtPunctuation) {
  EXPECT_EQ(NormalizeWords("Gutenberg's press, in 1450. 'Quoted'"),
            (std::vector<std::string>{"gutenberg's", "press", "in", "1450", "quoted"}));
  EXPECT_TRUE(NormalizeWords(" .,! ").empty());
}

TEST(WordErrorRate, CountsSubstitutionsDeletionsInsertions) {
  const auto ref = NormalizeWords("the cat sat on the mat");
  EXPECT_EQ(WordErrorRate(ref, ref).edits(), 0u);
  EXPECT_DOUBLE_EQ(WordErrorRate(ref, ref).rate(), 0.0);
  const auto e = WordErrorRate(ref, NormalizeWords("the cat sit on mat today"));
  EXPECT_EQ(e.edits(), 3u);
  EXPECT_EQ(e.reference_words, 6u);
  const auto abc = NormalizeWords("a b c");
  const auto s = WordErrorRate(abc, NormalizeWords("a x c"));
  EXPECT_EQ(s.substitutions, 1u);
  EXPECT_EQ(s.edits(), 1u);
  const auto d = WordErrorRate(abc, NormalizeWords("a c"));
  EXPECT_EQ(d.deletions, 1u);
  EXPECT_EQ(d.edits(), 1u);
  const auto i = WordErrorRate(abc, NormalizeWords("a b y c"));
  EXPECT_EQ(i.insertions, 1u);
  EXPECT_EQ(i.edits(), 1u);
  EXPECT_DOUBLE_EQ(e.rate(), 0.5);
  EXPECT_DOUBLE_EQ(WordErrorRate(ref, {}).rate(), 1.0);
  EXPECT_DOUBLE_EQ(WordErrorRate({}, {}).rate(), 0.0);
  // More insertions than reference words: above 1.
  EXPECT_GT(WordErrorRate({"a"}, NormalizeWords("b c d")).rate(), 1.0);
  WordErrors total = WordErrorRate(ref, ref);
  total += e;
  EXPECT_DOUBLE_EQ(total.rate(), 3.0 / 12.0);
}

TEST(KeyWordRecall, FractionOfKeyWordsPresent) {
  EXPECT_DOUBLE_EQ(KeyWordRecall({"printing", "press", "Europe", "germany"},
                                 "The printing press spread across europe."),
                   0.75);
  EXPECT_DOUBLE_EQ(KeyWordRecall({}, "anything"), 1.0);
  EXPECT_DOUBLE_EQ(KeyWordRecall({"pressing"}, "press"), 0.0);  // whole words only
}

}  // namespace
}  // namespace chansum::quality
