#include "chansum/summarize/summarize.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace chansum::summarize {
namespace {

using ::testing::HasSubstr;

// ASR-style segments (no punctuation), from the demo script about the printing press.
const std::vector<std::string>& PressSegments() {
  static const std::vector<std::string> lines = {
      "the history of the printing press begins in germany around fourteen fifty",
      "johannes gutenberg combined movable metal type with an oil based ink",
      "the printing press made books cheaper and faster to produce",
      "within fifty years printing had spread literacy across europe",
      "my cat likes to sleep on the warm windowsill",
      "printed books carried the ideas of scholars to readers across europe",
      "the press turned printing into an industry in many german cities",
      "uh so yeah",
      "by fifteen hundred printing presses were working in over two hundred cities",
      "cheaper books meant that literacy grew and ideas spread faster"};
  return lines;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

// The summary's sentences, each with the "." the summarizer adds to unpunctuated input removed.
std::vector<std::string> SummarySentences(const Summary& s) {
  auto parts = SplitSentences(s.summary);
  for (auto& p : parts) {
    if (!p.empty() && p.back() == '.') p.pop_back();
  }
  return parts;
}

TEST(SummarizeTest, SummaryIsShorterAndMadeOfTheTranscript) {
  auto s = SummarizeExtractive(PressSegments());
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->engine, "textrank");
  EXPECT_FALSE(s->summary.empty());
  EXPECT_LT(s->summary.size(), Join(PressSegments()).size());
  const auto parts = SummarySentences(*s);
  EXPECT_EQ(parts.size(), 3u) << s->summary;  // 20% of 10 is 2, raised to the minimum of 3
  std::size_t last = 0;
  for (const auto& part : parts) {
    auto it = std::find(PressSegments().begin(), PressSegments().end(), part);
    ASSERT_NE(it, PressSegments().end()) << "not an input sentence: " << part;
    const auto index = static_cast<std::size_t>(it - PressSegments().begin());
    EXPECT_GE(index, last) << "summary sentences must keep their original order";
    last = index;
  }
  // Off-topic and filler lines never make it in.
  EXPECT_THAT(s->summary, ::testing::Not(HasSubstr("windowsill")));
  EXPECT_THAT(s->summary, ::testing::Not(HasSubstr("uh so yeah")));
}

TEST(SummarizeTest, KeyPointsAreTopicalPhrases) {
  auto s = SummarizeExtractive(PressSegments());
  ASSERT_TRUE(s.ok());
  ASSERT_GE(s->key_points.size(), 3u);
  EXPECT_LE(s->key_points.size(), 7u);
  const std::string all = Join(s->key_points);
  EXPECT_THAT(all, HasSubstr("printing"));
  EXPECT_THAT(all, ::testing::AnyOf(HasSubstr("books"), HasSubstr("literacy"), HasSubstr("europe"),
                                    HasSubstr("ideas")));
  for (const auto& k : s->key_points) {
    EXPECT_THAT(Join(PressSegments()), HasSubstr(k)) << "key point not from the text: " << k;
    for (const char* stop : {"the", "uh", "yeah", "fifty", "and"}) EXPECT_NE(k, stop);
  }
  // No key point repeats another one's word.
  for (std::size_t i = 0; i < s->key_points.size(); ++i) {
    for (std::size_t j = 0; j < s->key_points.size(); ++j) {
      if (i != j) {
        EXPECT_THAT(s->key_points[i], ::testing::Not(HasSubstr(s->key_points[j])));
      }
    }
  }
}

TEST(SummarizeTest, IsDeterministic) {
  auto a = SummarizeExtractive(PressSegments());
  auto b = SummarizeExtractive(PressSegments());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(ToJson(*a).dump(), ToJson(*b).dump());
}

TEST(SummarizeTest, CentralSentenceOutranksOffTopicOne) {
  const std::vector<std::string> sentences = {
      "rivers carry water from the mountains to the sea",
      "the weather today is cold and rainy outside",
      "mountains feed rivers with melting snow every spring",
      "the sea receives water from rivers and mountains alike",
      "my neighbour collects old stamps from japan",
      "snow on the mountains melts into rivers that run to the sea"};
  SummarizeOptions one;
  one.max_sentences = 1;
  auto s = SummarizeExtractive(sentences, one);
  ASSERT_TRUE(s.ok());
  // A sentence sharing words with the others wins; the off-topic ones never do.
  EXPECT_THAT(s->summary, HasSubstr("rivers"));
  EXPECT_THAT(s->summary, HasSubstr("mountains"));
  SummarizeOptions four;  // ranking only: keep similar on-topic sentences
  four.max_sentences = 4;
  four.redundancy = 1.0;
  auto longer = SummarizeExtractive(sentences, four);
  ASSERT_TRUE(longer.ok());
  EXPECT_THAT(longer->summary, ::testing::Not(HasSubstr("stamps")));
  EXPECT_THAT(longer->summary, ::testing::Not(HasSubstr("weather")));
}

TEST(SummarizeTest, EmptyInputIsPermanentError) {
  for (const auto& input :
       {std::vector<std::string>{}, std::vector<std::string>{"", "   ", "\t"}}) {
    auto s = SummarizeExtractive(input);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, "empty_transcript");
    EXPECT_EQ(s.error().message, "empty transcript");
    EXPECT_FALSE(s.error().transient());
  }
}

TEST(SummarizeTest, SingleSentenceIsTheSummaryTrimmed) {
  auto s = SummarizeExtractive({"  the printing press changed europe  "});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->summary, "the printing press changed europe.");

  std::string long_sentence;
  for (int i = 0; i < 200; ++i) long_sentence += "printing press number " + std::to_string(i) + " ";
  SummarizeOptions opt;
  opt.max_sentence_chars = 100;
  auto cut = SummarizeExtractive({long_sentence}, opt);
  ASSERT_TRUE(cut.ok());
  EXPECT_LE(cut->summary.size(), 101u);
  EXPECT_THAT(long_sentence, HasSubstr(cut->summary.substr(0, cut->summary.size() - 1)));
}

TEST(SummarizeTest, TwoSentencesGiveOne) {
  auto s = SummarizeExtractive({"printing spread literacy across europe", "thanks for watching"});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->summary, "printing spread literacy across europe.");
}

TEST(SummarizeTest, AShortClipKeepsEverySentenceButItsFragmentsAndRepeats) {
  // About 40 words, as a 15-second clip says them: each sentence carries a point of its own.
  const std::vector<std::string> clip = {
      "This is a short history of the printing press.",
      "Johannes Gutenberg built a press with movable metal type in Germany around 1450.",
      "Uh so yeah.",
      "Printed books became cheap, and the new machine helped spread literacy across Europe.",
      "Printed books became cheap and the new machine helped spread literacy across Europe."};
  auto s = SummarizeExtractive(clip);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->summary, clip[0] + " " + clip[1] + " " + clip[3]);

  // Summarized like a long text, the clip loses whole points.
  SummarizeOptions cut;
  cut.short_text_words = 0;
  auto shorter = SummarizeExtractive({clip[0], clip[1], clip[3]}, cut);
  ASSERT_TRUE(shorter.ok());
  EXPECT_LT(SummarySentences(*shorter).size(), 3U) << shorter->summary;

  // A sentence count that was asked for is kept, short text or not.
  SummarizeOptions one;
  one.max_sentences = 1;
  auto single = SummarizeExtractive(clip, one);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(SummarySentences(*single).size(), 1U) << single->summary;
}

TEST(SummarizeTest, PunctuatedCaptionsKeepTheirPunctuation) {
  SummarizeOptions cut;  // a short text would keep every sentence: rank them
  cut.short_text_words = 0;
  auto s = SummarizeText(
      "The printing press began in Germany. Gutenberg used movable metal type! Did printing "
      "spread literacy across Europe? Yes, printing spread literacy and ideas across Europe. "
      "Cats sleep a lot. Printed books in Germany and Europe became cheap.",
      cut);
  ASSERT_TRUE(s.ok());
  for (const auto& sentence : SplitSentences(s->summary)) {
    EXPECT_THAT(sentence, ::testing::Not(::testing::EndsWith("..")));
    EXPECT_THAT(sentence, ::testing::Not(::testing::EndsWith("?.")));
  }
  EXPECT_THAT(s->summary, ::testing::Not(HasSubstr("Cats")));
  // Capitalized names keep the spelling the text uses.
  EXPECT_THAT(Join(s->key_points), ::testing::AnyOf(HasSubstr("Europe"), HasSubstr("Germany")));
}

TEST(SummarizeTest, RepeatedContentIsNotRepeatedInSummary) {
  std::vector<std::string> sentences;
  for (int i = 0; i < 5; ++i) {
    sentences.insert(sentences.end(), PressSegments().begin(), PressSegments().end());
  }
  auto s = SummarizeExtractive(sentences);
  ASSERT_TRUE(s.ok());
  auto parts = SummarySentences(*s);
  std::sort(parts.begin(), parts.end());
  EXPECT_EQ(std::adjacent_find(parts.begin(), parts.end()), parts.end()) << s->summary;
  EXPECT_EQ(parts.size(), 8u);  // 20% of 50 is 10, capped at 8; all distinct
}

std::vector<std::string> Generated(std::size_t n) {
  static const char* words[] = {"printing", "press",    "germany", "europe", "literacy",
                                "books",    "scholars", "ideas",   "metal",  "type",
                                "ink",      "paper",    "church",  "reform", "science",
                                "trade",    "cities",   "latin",   "bible",  "copies"};
  std::uint64_t state = 7;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>(state >> 33);
  };
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string s = "the";
    for (std::size_t w = 0, len = 5 + next() % 10; w < len; ++w) {
      s += std::string(" ") + words[next() % std::size(words)];
    }
    out.push_back(std::move(s));
  }
  return out;
}

TEST(SummarizeTest, LargeInputCompletesWithBoundedSummary) {
  const auto sentences = Generated(5000);  // above the full-graph limit: windowed comparisons
  auto s = SummarizeExtractive(sentences);
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  const auto parts = SummarySentences(*s);
  EXPECT_GE(parts.size(), 1u);
  EXPECT_LE(parts.size(), 8u);
  EXPECT_LE(s->summary.size(), SummarizeOptions{}.max_summary_chars + 2);
  for (const auto& part : parts) {
    EXPECT_NE(std::find(sentences.begin(), sentences.end(), part), sentences.end()) << part;
  }
  EXPECT_FALSE(s->key_points.empty());
}

TEST(SummaryJsonTest, RoundTripsAndRejectsMalformed) {
  Summary s;
  s.summary = "A summary.";
  s.key_points = {"printing press", "europe"};
  const auto j = ToJson(s);
  EXPECT_EQ(j.at("summary"), "A summary.");
  EXPECT_EQ(j.at("key_points").size(), 2u);
  EXPECT_EQ(j.at("engine"), "textrank");
  EXPECT_EQ(j.at("model"), "");
  auto back = SummaryFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, s);
  for (const char* bad : {R"([])", R"({"key_points":[]})", R"({"summary":1})",
                          R"({"summary":"x","key_points":[1]})", R"({"summary":"x","model":2})"}) {
    auto r = SummaryFromJson(nlohmann::json::parse(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "bad_summary");
  }
}

}  // namespace
}  // namespace chansum::summarize

namespace chansum::summarize {
namespace {

TEST(TranscriptSentencesTest, SegmentsBecomeReadableSentencesTheSummaryIsMadeOf) {
  // Automatic captions cut every six words; the speaker pauses between sentences.
  protocol::Transcript t;
  t.segments = {
      {0.0, 1.9, "in july nineteen sixty nine the"},
      {1.9, 3.7, "apollo eleven mission landed on the moon"},
      {4.2, 6.0, "neil armstrong was the first person"},
      {6.0, 7.6, "to walk on its surface"},
      {8.1, 10.1, "millions of people watched the landing"},
      {10.1, 11.8, "on television around the world"},
  };
  const auto sentences = TranscriptSentences(t);
  ASSERT_EQ(sentences.size(), 3U);
  EXPECT_EQ(sentences[0], "In July 1969 the Apollo 11 mission landed on the moon.");
  EXPECT_EQ(sentences[1], "Neil armstrong was the first person to walk on its surface.");
  auto summary = SummarizeExtractive(sentences);
  ASSERT_TRUE(summary.ok());
  // Whole input sentences, in their original order.
  const auto parts = SplitSentences(summary->summary);
  ASSERT_FALSE(parts.empty());
  std::size_t at = 0;
  for (const auto& p : parts) {
    auto it = std::find(sentences.begin() + static_cast<std::ptrdiff_t>(at), sentences.end(), p);
    ASSERT_NE(it, sentences.end()) << p << " is not a whole sentence of the input, in order";
    at = static_cast<std::size_t>(it - sentences.begin()) + 1;
  }
  // Key points occur in the text as written (case aside).
  std::string all;
  for (const auto& s : sentences) all += s + " ";
  std::transform(all.begin(), all.end(), all.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (auto k : summary->key_points) {
    std::transform(k.begin(), k.end(), k.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    EXPECT_NE(all.find(k), std::string::npos) << k;
  }

  // A transcript stored without segments still gives its text.
  protocol::Transcript only_text;
  only_text.text = "hello there";
  EXPECT_EQ(TranscriptSentences(only_text), std::vector<std::string>{"Hello there."});
  EXPECT_TRUE(TranscriptSentences(protocol::Transcript{}).empty());
}

}  // namespace
}  // namespace chansum::summarize
