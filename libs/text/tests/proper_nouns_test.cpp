#include "chansum/text/proper_nouns.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "chansum/text/readable.hpp"

namespace chansum::text {
namespace {

constexpr std::string_view kList =
    "Apollo\nArmstrong\nArmstrong's\nNASA\nNeil\nMay\nmay\nBill\nbill\nmoon\nMoon\nEd\n\n"
    "Hawaii\r\n";

TEST(ProperNounsTest, WordsListedOnlyWithCapitalsAreProperNouns) {
  const auto nouns = ProperNouns::FromWordList(kList);
  ASSERT_NE(nouns.Find("armstrong"), nullptr);
  EXPECT_EQ(*nouns.Find("armstrong"), "Armstrong");
  EXPECT_EQ(*nouns.Find("armstrong's"), "Armstrong's");
  EXPECT_EQ(*nouns.Find("nasa"), "NASA");
  EXPECT_EQ(*nouns.Find("hawaii"), "Hawaii");  // a CRLF list
  // Also listed in lower case: a common word as well, left as spoken.
  EXPECT_EQ(nouns.Find("may"), nullptr);
  EXPECT_EQ(nouns.Find("bill"), nullptr);
  EXPECT_EQ(nouns.Find("moon"), nullptr);
  // Under three letters: too often something else in speech.
  EXPECT_EQ(nouns.Find("ed"), nullptr);
  EXPECT_EQ(nouns.Find("unknown"), nullptr);
  EXPECT_EQ(nouns.size(), 6u);
}

TEST(ProperNounsTest, PolishSentenceSpellsThemOnlyWhereTheTextIsLowerCase) {
  ReadableOptions options;
  options.proper_nouns = std::make_shared<const ProperNouns>(ProperNouns::FromWordList(kList));
  EXPECT_EQ(PolishSentence("neil armstrong of nasa walked on the moon in may", options),
            "Neil Armstrong of NASA walked on the moon in may.");
  EXPECT_EQ(PolishSentence("the apollo eleven crew", options), "The Apollo 11 crew.");
  EXPECT_EQ(PolishSentence("armstrong's first step, in hawaii?", options),
            "Armstrong's first step, in Hawaii?");
  // Written with capitals already (captions): kept as written.
  EXPECT_EQ(PolishSentence("the NaSa logo", options), "The NaSa logo.");
  // Without a list: only the sentence's first letter.
  EXPECT_EQ(PolishSentence("neil armstrong of nasa"), "Neil armstrong of nasa.");
}

TEST(ProperNounsTest, LoadReportsAFileItCannotRead) {
  std::string error;
  EXPECT_EQ(LoadProperNouns("", &error), nullptr);
  EXPECT_TRUE(error.empty());
  EXPECT_EQ(LoadProperNouns("/nonexistent/words", &error), nullptr);
  EXPECT_NE(error.find("/nonexistent/words"), std::string::npos) << error;
}

TEST(ProperNounsTest, TheSettingWarnsForAMissingDefaultAndRefusesAMissingPath) {
  const auto off = LoadProperNounsSetting(std::string());
  EXPECT_EQ(off.nouns, nullptr);
  EXPECT_TRUE(off.error.empty() && off.warning.empty());
  const auto wrong = LoadProperNounsSetting(std::string("/nonexistent/words"));
  EXPECT_EQ(wrong.nouns, nullptr);
  EXPECT_NE(wrong.error.find("TEXT_PROPER_NOUNS: /nonexistent/words"), std::string::npos)
      << wrong.error;
  EXPECT_TRUE(wrong.warning.empty());
  const auto unset = LoadProperNounsSetting(std::nullopt);
  EXPECT_TRUE(unset.error.empty());
  EXPECT_EQ(unset.nouns != nullptr, std::filesystem::exists(kDefaultWordList));
}

// The list deploy/local/setup and the Dockerfiles install (Debian's wamerican), as the services
// read it by default (TEXT_PROPER_NOUNS).
TEST(ProperNounsTest, TheInstalledWordListKnowsNamesAndLeavesCommonWords) {
  const std::string path = "/usr/share/dict/american-english";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: run deploy/local/setup";
  std::string error;
  const auto nouns = LoadProperNouns(path, &error);
  ASSERT_NE(nouns, nullptr) << error;
  for (const char* name : {"Armstrong", "Neil", "Apollo", "NASA", "Hawaii", "English", "July"}) {
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASSERT_NE(nouns->Find(lower), nullptr) << name;
    EXPECT_EQ(*nouns->Find(lower), name);
  }
  for (const char* common : {"may", "march", "moon", "earth", "bill", "the", "volcano", "press"}) {
    EXPECT_EQ(nouns->Find(common), nullptr) << common;
  }
}

}  // namespace
}  // namespace chansum::text
