#include "chansum/text/readable.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chansum::text {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SpokenNumbersTest, YearsAfterAMonthOrAPreposition) {
  EXPECT_EQ(SpokenNumbersToDigits("in july nineteen sixty nine the apollo eleven mission"),
            "in july 1969 the apollo 11 mission");
  EXPECT_EQ(SpokenNumbersToDigits("in nineteen sixty nine"), "in 1969");
  EXPECT_EQ(SpokenNumbersToDigits("in germany around fourteen fifty printed"),
            "in germany around 1450 printed");
  EXPECT_EQ(SpokenNumbersToDigits("since nineteen oh five"), "since 1905");
  EXPECT_EQ(SpokenNumbersToDigits("in twenty twenty four we"), "in 2024 we");
  EXPECT_EQ(SpokenNumbersToDigits("by nineteen hundred,"), "by 1900,");
  EXPECT_EQ(SpokenNumbersToDigits("from twenty ten"), "from 2010");
}

TEST(SpokenNumbersTest, NamesThatTakeANumber) {
  EXPECT_EQ(SpokenNumbersToDigits("the apollo eleven mission"), "the apollo 11 mission");
  EXPECT_EQ(SpokenNumbersToDigits("chapter three begins"), "chapter 3 begins");
  EXPECT_EQ(SpokenNumbersToDigits("season two"), "season 2");
}

TEST(SpokenNumbersTest, NumbersOfSeveralWords) {
  EXPECT_EQ(SpokenNumbersToDigits("twenty five percent"), "25 percent");
  EXPECT_EQ(SpokenNumbersToDigits("three hundred and sixty five days"), "365 days");
  EXPECT_EQ(SpokenNumbersToDigits("one hundred people"), "100 people");
  EXPECT_EQ(SpokenNumbersToDigits("two thousand and eight"), "2008");
  EXPECT_EQ(SpokenNumbersToDigits("fifteen hundred years"), "1500 years");
  EXPECT_EQ(SpokenNumbersToDigits("forty two thousand fans"), "42,000 fans");
  EXPECT_EQ(SpokenNumbersToDigits("two million three hundred thousand"), "2,300,000");
  // Punctuation around the number stays.
  EXPECT_EQ(SpokenNumbersToDigits("(twenty five), then"), "(25), then");
}

TEST(SpokenNumbersTest, LeavesAloneWhatIsNotSafe) {
  for (const char* s : {
           "one of the best",
           "a hundred flowers",
           "hundreds of flowers",
           "millions of people watched",
           "the first person",
           "one two three",
           "eleven players",
           "nineteen sixty nine",  // a year needs "in", a month...: without it, unclear
           "twenty thirty",
           "one and two",
           "five and",
           "in one",
           "it was ten to one",
           "twenty, five",
           "sixty-nine",
           "someone bought one",
           "the nineteen sixties",
       }) {
    EXPECT_EQ(SpokenNumbersToDigits(s), s) << s;
  }
  // A number followed by another that is not part of it: the whole run stays words.
  EXPECT_EQ(SpokenNumbersToDigits("fifteen twenty five"), "fifteen twenty five");
}

TEST(PolishSentenceTest, CapitalisesAndEnds) {
  EXPECT_EQ(
      PolishSentence("in july nineteen sixty nine the apollo eleven mission landed on the moon"),
      "In July 1969 the Apollo 11 mission landed on the moon.");
  EXPECT_EQ(PolishSentence("  so i think i'm right  "), "So I think I'm right.");
  EXPECT_EQ(PolishSentence("what is this?"), "What is this?");
  EXPECT_EQ(PolishSentence("it rained on monday, and"), "It rained on Monday, and.");
  EXPECT_EQ(PolishSentence("we may go in march"), "We may go in march.");
  EXPECT_EQ(PolishSentence("on may nineteen oh five"), "On May 1905.");
  EXPECT_EQ(PolishSentence("it ends here,"), "It ends here.");
  EXPECT_EQ(PolishSentence("\"quoted\""), "\"Quoted\".");
  EXPECT_EQ(PolishSentence("   "), "");
  ReadableOptions words_only;
  words_only.digits = false;
  EXPECT_EQ(PolishSentence("in nineteen sixty nine", words_only), "In nineteen sixty nine.");
}

TEST(ReadableSentencesTest, UnpunctuatedPiecesJoinAtPauses) {
  // Caption lines cut mid-sentence; the speaker pauses between sentences.
  std::vector<TimedText> pieces = {
      {0.0, 2.0, "in july nineteen sixty nine"},
      {2.0, 4.0, "the apollo eleven mission landed on the moon"},
      {4.6, 6.0, "neil armstrong was the first"},
      {6.0, 7.5, "person to walk on its surface"},
      {8.2, 9.0, "millions of people watched"},
  };
  EXPECT_THAT(ReadableSentences(pieces),
              ElementsAre("In July 1969 the Apollo 11 mission landed on the moon.",
                          "Neil armstrong was the first person to walk on its surface.",
                          "Millions of people watched."));
  EXPECT_EQ(ReadableText(pieces).substr(0, 20), "In July 1969 the Apo");
}

TEST(ReadableSentencesTest, ShortPausesCountWhenTheSpeakerBarelyPauses) {
  // ASR segments with small gaps between them: the clearly longer one ends the sentence.
  std::vector<TimedText> pieces = {
      {0.0, 1.0, "a volcano forms where hot"},
      {1.05, 2.0, "melted rock rises from deep inside the earth"},
      {2.3, 3.0, "when pressure builds up"},
      {3.04, 4.0, "the mountain can erupt"},
  };
  EXPECT_THAT(ReadableSentences(pieces),
              ElementsAre("A volcano forms where hot melted rock rises from deep inside the earth.",
                          "When pressure builds up the mountain can erupt."));
}

TEST(ReadableSentencesTest, LongRunsAreCutAtTheirLongestGap) {
  std::vector<TimedText> pieces;
  double t = 0;
  for (int i = 0; i < 10; ++i) {
    pieces.push_back({t, t + 1, "w w w w w w"});  // 6 words, no pauses
    t += (i == 3) ? 1.1 : 1.0;                    // a 0.1 s gap after the fourth piece
  }
  ReadableOptions options;
  options.max_sentence_words = 40;
  const auto sentences = ReadableSentences(pieces, options);
  ASSERT_EQ(sentences.size(), 2u);
  EXPECT_EQ(sentences[0], "W w w w w w w w w w w w w w w w w w w w w w w w.");  // 4 pieces
}

TEST(ReadableSentencesTest, PunctuatedPiecesKeepTheirSentences) {
  std::vector<TimedText> pieces = {
      {0.0, 2.0, "Honeybees are important for farming. A worker"},
      {2.0, 4.0, "bee visits hundreds of flowers every day."},
      {9.0, 10.0, "she carries pollen"},
  };
  EXPECT_THAT(
      ReadableSentences(pieces),
      ElementsAre("Honeybees are important for farming.",
                  "A worker bee visits hundreds of flowers every day.", "She carries pollen."));
}

TEST(ReadableSentencesTest, BlankAndEmpty) {
  EXPECT_THAT(ReadableSentences({}), IsEmpty());
  EXPECT_THAT(ReadableSentences({{0, 1, "  "}, {1, 2, ""}}), IsEmpty());
  EXPECT_EQ(ReadableText({{0, 1, "hello"}}), "Hello.");
}

}  // namespace
}  // namespace chansum::text
