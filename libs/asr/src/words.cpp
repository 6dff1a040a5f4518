#include "chansum/asr/words.hpp"

#include <algorithm>
#include <cctype>

namespace chansum::asr {

std::optional<std::string> CleanWord(std::string_view raw) {
  if (raw.empty()) return std::nullopt;
  // Fillers: <s>, </s>, <sil>, [NOISE], [SPEECH], ++BREATH++, (NULL).
  if (raw.front() == '<' || raw.front() == '[' || raw.starts_with("++") || raw == "(NULL)") {
    return std::nullopt;
  }
  // Alternate pronunciations: "around(2)" -> "around".
  if (raw.back() == ')') {
    const auto open = raw.rfind('(');
    if (open != std::string_view::npos && open > 0) {
      bool digits = open + 2 < raw.size();  // at least one character between the parentheses
      for (std::size_t i = open + 1; i + 1 < raw.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(raw[i]))) digits = false;
      }
      if (digits) raw = raw.substr(0, open);
    }
  }
  if (raw.empty()) return std::nullopt;
  return std::string(raw);
}

std::vector<Segment> GroupWords(const std::vector<TimedWord>& words,
                                const SegmentOptions& options) {
  std::vector<Segment> out;
  Segment current;
  int count = 0;
  double prev_end = 0;
  auto flush = [&] {
    if (count > 0) out.push_back(std::move(current));
    current = Segment{};
    count = 0;
  };
  for (const auto& w : words) {
    auto clean = CleanWord(w.word);
    if (!clean) continue;  // a filler's time simply widens the gap to the next word
    if (count > 0) {
      const double gap = w.start - prev_end;
      if (gap >= options.pause_seconds || count >= options.max_words ||
          (gap >= options.min_gap_seconds && count >= options.soft_min_words)) {
        flush();
      }
    }
    if (count == 0) {
      current.start = w.start;
    } else {
      current.text += ' ';
    }
    current.text += *clean;
    current.end = std::max(w.end, current.start);
    prev_end = w.end;
    ++count;
  }
  flush();
  return out;
}

}  // namespace chansum::asr
