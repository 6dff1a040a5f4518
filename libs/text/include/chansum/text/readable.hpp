#pragma once
// Readable text from a timed transcript: sentences found from the transcript's own timing (pauses
// between ASR segments, gaps between caption cues) or its punctuation when it has some, each
// capitalised, ending in punctuation, with spoken numbers written as digits where that is safe.
// Pure functions: no I/O.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chansum/text/proper_nouns.hpp"

namespace chansum::text {

// One timed piece of a transcript: an ASR segment or a caption cue.
struct TimedText {
  double start = 0;  // seconds
  double end = 0;    // seconds
  std::string text;
};

struct ReadableOptions {
  // Unpunctuated pieces (ASR, automatic captions): a silence of at least this long between two
  // pieces ends a sentence...
  double sentence_pause_seconds = 0.45;
  // ...and so does a shorter one of at least min_pause_seconds that is at least pause_ratio times
  // the median gap between the pieces (a speaker who pauses little still pauses most between
  // sentences).
  double min_pause_seconds = 0.15;
  double pause_ratio = 3.0;
  // A run of pieces without such a pause is cut at its longest gap once it holds more words.
  int max_sentence_words = 40;
  // Spoken numbers as digits (see SpokenNumbersToDigits).
  bool digits = true;
  // Words written in lower case that the list knows only as proper nouns get their capitals
  // ("neil armstrong" -> "Neil Armstrong"). Null: none (TEXT_PROPER_NOUNS="").
  std::shared_ptr<const ProperNouns> proper_nouns;
};

// Sentences of a transcript, in order. Pieces that carry sentence punctuation (manual captions,
// an ASR engine that punctuates) are split at it (SplitSentences); otherwise pieces are joined
// into sentences at pauses. Each sentence is then polished (PolishSentence). Blank pieces are
// skipped; no pieces, no sentences.
[[nodiscard]] std::vector<std::string> ReadableSentences(const std::vector<TimedText>& pieces,
                                                         const ReadableOptions& options = {});

// The sentences joined with single spaces.
[[nodiscard]] std::string ReadableText(const std::vector<TimedText>& pieces,
                                       const ReadableOptions& options = {});

// One sentence made readable: whitespace collapsed, spoken numbers as digits (when
// options.digits), the first letter and the pronoun "I" ("i'm", "i've") capitalised, weekday and
// month names capitalised (not "may"/"march" unless a date follows), lower-case words that
// options.proper_nouns knows as proper nouns spelled as it spells them, "." appended when it ends
// without punctuation. Empty in, empty out.
[[nodiscard]] std::string PolishSentence(std::string_view sentence,
                                         const ReadableOptions& options = {});

// Spoken English numbers written as digits where that is unambiguous:
// - a year after "in", "since", "by", "until", "from", "around", "about", "circa" or a month
//   name: "in nineteen sixty nine" -> "in 1969", "july nineteen oh five" -> "july 1905",
//   "around fourteen fifty" -> "around 1450", "in twenty twenty four" -> "in 2024";
// - a number after a name that takes one ("apollo eleven" -> "apollo 11", "chapter three",
//   "episode", "part", "season", "page", "number", "version", "volume", "flight", "route",
//   "gemini", "artemis", "level", "room", "gate");
// - a number of two or more number words: "twenty five" -> "25", "three hundred and sixty five"
//   -> "365", "two thousand" -> "2000", "one hundred" -> "100".
// Left alone: single number words elsewhere ("one of the", "eleven players"), "a hundred",
// "hundreds of", "millions of", ordinals ("first", "second"), and counting ("one two three").
[[nodiscard]] std::string SpokenNumbersToDigits(std::string_view text);

}  // namespace chansum::text
