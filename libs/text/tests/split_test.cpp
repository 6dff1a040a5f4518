#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "chansum/text/text.hpp"

namespace chansum::text {
namespace {

using ::testing::ElementsAre;

TEST(SplitSentencesTest, SplitsAtTerminalPunctuation) {
  EXPECT_THAT(SplitSentences("Hello there. How are you?  I am fine!Really fine."),
              ElementsAre("Hello there.", "How are you?", "I am fine!Really fine."));
  EXPECT_THAT(SplitSentences("Wait... what?! Yes."), ElementsAre("Wait...", "what?!", "Yes."));
}

TEST(SplitSentencesTest, KeepsAbbreviationsInitialsAndNumbers) {
  EXPECT_THAT(SplitSentences("Mr. Smith met Dr. Jones at 3.5 km from the U.S. border. "
                             "J. R. R. Tolkien wrote books, e.g. The Hobbit. The end"),
              ElementsAre("Mr. Smith met Dr. Jones at 3.5 km from the U.S. border.",
                          "J. R. R. Tolkien wrote books, e.g. The Hobbit.", "The end"));
}

TEST(SplitSentencesTest, LowercaseWordsBeforeADotEndSentences) {
  // What the summarizer makes of ASR segments: lowercase words with an appended ".".
  EXPECT_THAT(SplitSentences("we asked the dr. then plan a. we went to st. it worked."),
              ElementsAre("we asked the dr.", "then plan a.", "we went to st.", "it worked."));
}

TEST(SplitSentencesTest, HandlesQuotesEllipsisAndBlankLines) {
  EXPECT_THAT(SplitSentences("He said \"stop.\" Then he left\xE2\x80\xA6 Later\n\nnew part"),
              ElementsAre("He said \"stop.\"", "Then he left\xE2\x80\xA6", "Later", "new part"));
}

TEST(SplitSentencesTest, CollapsesWhitespaceAndDropsEmpty) {
  EXPECT_THAT(SplitSentences("  one\n  line\twrapped.   \n  . "), ElementsAre("one line wrapped."));
  EXPECT_TRUE(SplitSentences("   \n\t ").empty());
  EXPECT_TRUE(SplitSentences("").empty());
}

}  // namespace
}  // namespace chansum::text
