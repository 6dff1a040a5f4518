#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "chansum/text/text.hpp"
#include "chansum/text/textrank.hpp"

namespace chansum::text {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(TokenizeTest, MarksContentWordsAndNormalizes) {
  const auto tokens = Tokenize("The printers' Books, uh, and 42 stories of 1455");
  std::vector<std::string> content;
  for (const auto& t : tokens) {
    if (t.content) content.push_back(t.surface + "=" + t.norm);
  }
  EXPECT_THAT(content, ElementsAre("printers=printer", "Books=book", "stories=story", "1455=1455"));
  EXPECT_TRUE(IsStopWord("yeah"));
  EXPECT_FALSE(IsStopWord("press"));
  EXPECT_EQ(Normalize("press"), "press");
  EXPECT_EQ(CollapseSpaces("  a \n\t b  "), "a b");
}

TEST(PageRankTest, HubOutranksLeavesAndTiesBreakByPosition) {
  // A star: node 2 is linked to the three others.
  const Graph star = {{{2, 1.0}}, {{2, 1.0}}, {{0, 1.0}, {1, 1.0}, {3, 1.0}}, {{2, 1.0}}};
  const auto score = PageRank(star);
  double sum = 0;
  for (double s : score) sum += s;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_THAT(RankOrder(score), ElementsAre(2, 0, 1, 3));
  // No edges at all: every node scores the same.
  const auto flat = PageRank(Graph(3));
  EXPECT_NEAR(flat[0], 1.0 / 3, 1e-9);
  EXPECT_NEAR(flat[2], 1.0 / 3, 1e-9);
}

TEST(KeyPhrasesTest, RepeatedPhrasesOfTheTextFirstWithoutSharedWords) {
  const std::vector<std::string> sentences = {
      "The printing press changed Europe.",
      "  ",
      "Before the printing press, monks copied books by hand.",
      "Movable metal type made books cheap.",
      "Cheap books spread literacy across Europe.",
      "Literacy grew wherever the press arrived."};
  const auto phrases = KeyPhrases(sentences, 4);
  ASSERT_FALSE(phrases.empty());
  EXPECT_LE(phrases.size(), 4u);
  EXPECT_EQ(phrases, KeyPhrases(sentences, 4));  // deterministic
  // Every phrase is written as the text writes it, and no two share a word.
  std::string text;
  for (const auto& s : sentences) text += s + " ";
  for (std::size_t i = 0; i < phrases.size(); ++i) {
    EXPECT_NE(text.find(phrases[i]), std::string::npos) << phrases[i];
    for (std::size_t j = 0; j < i; ++j) {
      for (const auto& w : Tokenize(phrases[i])) {
        for (const auto& v : Tokenize(phrases[j])) EXPECT_NE(w.norm, v.norm);
      }
    }
  }
  // "books" is said four times: a repeated word ranks among the first.
  std::vector<std::string> norms;
  for (const auto& p : phrases) {
    for (const auto& t : Tokenize(p)) norms.push_back(t.norm);
  }
  EXPECT_THAT(norms, ::testing::Contains("book"));
  EXPECT_THAT(norms, ::testing::Not(::testing::Contains("monk")));  // said once
}

TEST(KeyPhrasesTest, NoneWithoutContentWordsOrWhenNoneAreAsked) {
  EXPECT_THAT(KeyPhrases(std::vector<std::string>{"uh, yeah, well.", " "}, 5), IsEmpty());
  EXPECT_THAT(KeyPhrases(std::vector<std::string>{"Printing presses print books."}, 0), IsEmpty());
  EXPECT_THAT(KeyPhrases(std::vector<std::string>{}, 5), IsEmpty());
}

}  // namespace
}  // namespace chansum::text

namespace chansum::text {
namespace {

TEST(KeyPhrasesTest, NoStutteredRunsAndNoCapitalsThatOnlyStartASentence) {
  // "gas gas" is a recognizer's stutter; "Yeast" is capitalised only where it starts a sentence,
  // "Apollo" wherever it is written.
  const std::vector<std::string> sentences = {
      "Yeast feeds on sugar and gives off gas gas.", "The gas makes the dough rise with yeast.",
      "The Apollo mission used yeast.", "Apollo crews ate bread made with gas."};
  const auto phrases = KeyPhrases(sentences, 6);
  ASSERT_FALSE(phrases.empty());
  for (const auto& p : phrases) {
    EXPECT_NE(p, "gas gas");
    EXPECT_NE(p, "Yeast") << "a sentence's capital is not the word's spelling";
  }
  EXPECT_NE(std::find(phrases.begin(), phrases.end(), "yeast"), phrases.end());
  EXPECT_NE(std::find(phrases.begin(), phrases.end(), "Apollo"), phrases.end());
  // Said only at the start of a sentence: written as there.
  EXPECT_EQ(KeyPhrases(std::vector<std::string>{"Volcanoes erupt."}, 1),
            std::vector<std::string>{"Volcanoes erupt"});
}

}  // namespace
}  // namespace chansum::text
