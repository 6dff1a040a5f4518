#pragma once
// Turning decoder words into clean, timed segments: strip fillers and pronunciation marks, then
// group words into segments at pauses (ASR text has no punctuation, so pauses stand in for
// sentence ends).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chansum/asr/transcript.hpp"

namespace chansum::asr {

struct TimedWord {
  double start = 0;  // seconds
  double end = 0;    // seconds
  std::string word;  // raw decoder output, e.g. "around(2)", "<sil>", "[NOISE]"
};

// "around(2)" -> "around"; fillers ("<s>", "</s>", "<sil>", "[NOISE]", "++BREATH++", "(NULL)")
// and empty words -> nullopt.
[[nodiscard]] std::optional<std::string> CleanWord(std::string_view raw);

struct SegmentOptions {
  double pause_seconds = 0.6;  // a gap this long always ends a segment
  // A shorter silence (any gap of at least min_gap_seconds, e.g. a <sil> between words) ends a
  // segment once it already holds soft_min_words words.
  double min_gap_seconds = 0.05;
  int soft_min_words = 8;
  int max_words = 20;  // a segment never holds more words than this
};

// Cleans the words (dropping fillers) and groups them into segments. Words must be in time order.
[[nodiscard]] std::vector<Segment> GroupWords(const std::vector<TimedWord>& words,
                                              const SegmentOptions& options = {});

}  // namespace chansum::asr
