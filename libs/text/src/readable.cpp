#include "chansum/text/readable.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "chansum/common/strings.hpp"
#include "chansum/text/text.hpp"

namespace chansum::text {
namespace {

// A whitespace-separated word split into leading punctuation, the word and trailing punctuation:
// "(nine," -> "(", "nine", ",".
struct Word {
  std::string lead;
  std::string core;
  std::string trail;
};

bool IsCoreByte(unsigned char c) { return std::isalnum(c) != 0 || c == '\'' || c >= 0x80; }

std::vector<Word> SplitWords(std::string_view text) {
  std::vector<Word> out;
  const std::string collapsed = CollapseSpaces(text);
  std::string_view rest = collapsed;
  while (!rest.empty()) {
    const auto space = rest.find(' ');
    std::string_view w = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    std::size_t a = 0;
    while (a < w.size() && !IsCoreByte(static_cast<unsigned char>(w[a]))) ++a;
    std::size_t b = w.size();
    while (b > a && !IsCoreByte(static_cast<unsigned char>(w[b - 1]))) --b;
    out.push_back(
        {std::string(w.substr(0, a)), std::string(w.substr(a, b - a)), std::string(w.substr(b))});
  }
  return out;
}

std::string JoinWords(const std::vector<Word>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w.lead + w.core + w.trail;
  }
  return out;
}

enum class Kind { kUnit, kTeen, kTens, kHundred, kScale, kAnd, kOh, kNone };

struct NumberWord {
  Kind kind = Kind::kNone;
  std::int64_t value = 0;
};

NumberWord Classify(const std::string& lower) {
  static const std::unordered_map<std::string, NumberWord> number_words = {
      {"one", {Kind::kUnit, 1}},
      {"two", {Kind::kUnit, 2}},
      {"three", {Kind::kUnit, 3}},
      {"four", {Kind::kUnit, 4}},
      {"five", {Kind::kUnit, 5}},
      {"six", {Kind::kUnit, 6}},
      {"seven", {Kind::kUnit, 7}},
      {"eight", {Kind::kUnit, 8}},
      {"nine", {Kind::kUnit, 9}},
      {"ten", {Kind::kTeen, 10}},
      {"eleven", {Kind::kTeen, 11}},
      {"twelve", {Kind::kTeen, 12}},
      {"thirteen", {Kind::kTeen, 13}},
      {"fourteen", {Kind::kTeen, 14}},
      {"fifteen", {Kind::kTeen, 15}},
      {"sixteen", {Kind::kTeen, 16}},
      {"seventeen", {Kind::kTeen, 17}},
      {"eighteen", {Kind::kTeen, 18}},
      {"nineteen", {Kind::kTeen, 19}},
      {"twenty", {Kind::kTens, 20}},
      {"thirty", {Kind::kTens, 30}},
      {"forty", {Kind::kTens, 40}},
      {"fifty", {Kind::kTens, 50}},
      {"sixty", {Kind::kTens, 60}},
      {"seventy", {Kind::kTens, 70}},
      {"eighty", {Kind::kTens, 80}},
      {"ninety", {Kind::kTens, 90}},
      {"hundred", {Kind::kHundred, 100}},
      {"thousand", {Kind::kScale, 1000}},
      {"million", {Kind::kScale, 1000000}},
      {"billion", {Kind::kScale, 1000000000}},
      {"and", {Kind::kAnd, 0}},
      {"oh", {Kind::kOh, 0}}};
  const auto it = number_words.find(lower);
  return it == number_words.end() ? NumberWord{} : it->second;
}

bool IsNumeral(Kind k) {
  return k == Kind::kUnit || k == Kind::kTeen || k == Kind::kTens || k == Kind::kHundred ||
         k == Kind::kScale;
}

// A cardinal spelled out by all of `words` ("three hundred and sixty five"), or nullopt when they
// are not exactly one number ("one two", "twenty thirty", "five and").
std::optional<std::int64_t> Cardinal(const std::vector<NumberWord>& words) {
  std::int64_t total = 0;
  std::int64_t current = 0;
  std::int64_t last_scale = 0;  // 0 = none yet
  Kind last = Kind::kNone;
  bool current_has_hundred = false;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const auto& w = words[i];
    switch (w.kind) {
      case Kind::kUnit:
        if (last == Kind::kUnit || last == Kind::kTeen) return std::nullopt;
        if (last == Kind::kTens && current % 10 != 0) return std::nullopt;
        current += w.value;
        break;
      case Kind::kTeen:
      case Kind::kTens:
        if (last == Kind::kUnit || last == Kind::kTeen || last == Kind::kTens) return std::nullopt;
        current += w.value;
        break;
      case Kind::kHundred:
        // "three hundred", "fifteen hundred"; not "a hundred" (no number before it).
        if (current_has_hundred || current < 1 || current > 99 ||
            (last != Kind::kUnit && last != Kind::kTeen && last != Kind::kTens)) {
          return std::nullopt;
        }
        current *= 100;
        current_has_hundred = true;
        break;
      case Kind::kScale:
        if (current < 1 || last == Kind::kAnd || (last_scale != 0 && w.value >= last_scale)) {
          return std::nullopt;
        }
        total += current * w.value;
        current = 0;
        current_has_hundred = false;
        last_scale = w.value;
        break;
      case Kind::kAnd:
        // Only "hundred and five", "thousand and one", followed by a number.
        if ((last != Kind::kHundred && last != Kind::kScale) || i + 1 >= words.size()) {
          return std::nullopt;
        }
        break;
      default:
        return std::nullopt;
    }
    last = w.kind;
  }
  if (last == Kind::kNone) return std::nullopt;
  return total + current;
}

// A year said as two numbers ("nineteen sixty nine", "fourteen fifty", "nineteen oh five",
// "twenty twenty four", "nineteen hundred"), or nullopt.
std::optional<std::int64_t> Year(const std::vector<NumberWord>& words) {
  if (words.size() < 2 || words.size() > 3) return std::nullopt;
  const auto& century = words[0];
  if (!(century.kind == Kind::kTeen && century.value >= 11) &&
      !(century.kind == Kind::kTens && century.value == 20)) {
    return std::nullopt;
  }
  const std::int64_t base = century.value * 100;
  const auto& b = words[1];
  if (words.size() == 2) {
    if (b.kind == Kind::kTeen || b.kind == Kind::kTens) return base + b.value;
    if (b.kind == Kind::kHundred && century.kind == Kind::kTeen) return base;
    return std::nullopt;
  }
  const auto& c = words[2];
  if (c.kind != Kind::kUnit) return std::nullopt;
  if (b.kind == Kind::kTens) return base + b.value + c.value;
  if (b.kind == Kind::kOh) return base + c.value;
  return std::nullopt;
}

bool IsMonth(const std::string& lower) {
  static const std::unordered_set<std::string_view> months = {
      "january", "february", "march",     "april",   "may",      "june",
      "july",    "august",   "september", "october", "november", "december"};
  return months.count(lower) > 0;
}

bool IsYearContext(const std::string& lower) {
  static const std::unordered_set<std::string_view> before_a_year = {
      "in", "since", "by", "until", "till", "from", "around", "about", "circa"};
  return before_a_year.count(lower) > 0 || IsMonth(lower);
}

bool IsNamedContext(const std::string& lower) {
  static const std::unordered_set<std::string_view> names = {
      "apollo", "gemini",  "artemis", "chapter", "episode", "part",  "season", "page",
      "number", "version", "volume",  "flight",  "route",   "level", "room",   "gate"};
  return names.count(lower) > 0;
}

std::string Digits(std::int64_t v) {
  std::string s = std::to_string(v);
  if (s.size() <= 4) return s;
  std::string out;
  const std::size_t first = s.size() % 3 == 0 ? 3 : s.size() % 3;
  out = s.substr(0, first);
  for (std::size_t i = first; i < s.size(); i += 3) out += "," + s.substr(i, 3);
  return out;
}

bool IsDigitWord(const std::string& core) {
  return !core.empty() && std::isdigit(static_cast<unsigned char>(core[0])) != 0;
}

bool IsTerminal(char c) { return c == '.' || c == '!' || c == '?'; }

// True when the text ends a sentence at "." "!" "?" "…" (closing quotes and brackets aside).
bool EndsSentence(std::string_view s) {
  while (!s.empty() &&
         (s.back() == '"' || s.back() == '\'' || s.back() == ')' || s.back() == ']')) {
    s.remove_suffix(1);
  }
  return !s.empty() && (IsTerminal(s.back()) || s.ends_with("\xE2\x80\xA6"));
}

std::size_t CountWords(std::string_view s) {
  std::size_t n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

// Sentence-ending punctuation inside a piece ("." etc. followed by a space or the end).
std::size_t CountTerminals(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (IsTerminal(s[i]) && (i + 1 == s.size() || s[i + 1] == ' ' || s[i + 1] == '"')) ++n;
  }
  return n;
}

}  // namespace

std::string SpokenNumbersToDigits(std::string_view text) {
  auto words = SplitWords(text);
  std::vector<Word> out;
  std::size_t i = 0;
  while (i < words.size()) {
    // A run of number words: no punctuation inside it, "and"/"oh" only between numbers.
    std::vector<NumberWord> run;
    std::size_t j = i;
    while (j < words.size()) {
      const auto nw = Classify(AsciiLower(words[j].core));
      if (nw.kind == Kind::kNone) break;
      if (!IsNumeral(nw.kind) && run.empty()) break;
      if (j > i && !words[j].lead.empty()) break;
      run.push_back(nw);
      ++j;
      if (!words[j - 1].trail.empty()) break;
    }
    // Trailing "and"/"oh" belong to the text after the number.
    while (!run.empty() && !IsNumeral(run.back().kind)) {
      run.pop_back();
      --j;
    }
    if (run.empty()) {
      out.push_back(words[i]);
      ++i;
      continue;
    }
    const std::string before = out.empty() ? std::string() : AsciiLower(out.back().core);
    const bool before_ends = !out.empty() && !out.back().trail.empty();
    std::optional<std::int64_t> value;
    if (!before_ends && IsYearContext(before)) value = Year(run);
    if (!value && run.size() >= 2) value = Cardinal(run);
    if (!value && !before_ends && IsNamedContext(before)) value = Cardinal(run);
    // A run that is followed by more number words after punctuation is a list: leave it.
    if (value) {
      Word w;
      w.lead = words[i].lead;
      w.core = Digits(*value);
      w.trail = words[j - 1].trail;
      out.push_back(std::move(w));
    } else {
      for (std::size_t k = i; k < j; ++k) out.push_back(words[k]);
    }
    i = j;
  }
  return JoinWords(out);
}

std::string PolishSentence(std::string_view sentence, const ReadableOptions& options) {
  const std::string text =
      options.digits ? SpokenNumbersToDigits(sentence) : CollapseSpaces(sentence);
  auto words = SplitWords(text);
  if (words.empty()) return {};
  static const std::unordered_set<std::string_view> pronoun_i = {"i", "i'm", "i've", "i'd", "i'll"};
  static const std::unordered_set<std::string_view> always_capital = {
      "monday", "tuesday",   "wednesday", "thursday", "friday",  "saturday",
      "sunday", "january",   "february",  "april",    "june",    "july",
      "august", "september", "october",   "november", "december"};
  static const std::unordered_set<std::string_view> capital_before_number = {
      "may", "march", "apollo", "gemini", "artemis"};
  for (std::size_t i = 0; i < words.size(); ++i) {
    auto& core = words[i].core;
    if (core.empty()) continue;
    const std::string lower = AsciiLower(core);
    if (options.proper_nouns != nullptr && lower == core) {
      if (const std::string* proper = options.proper_nouns->Find(lower)) {
        core = *proper;
        continue;
      }
    }
    const bool number_follows = i + 1 < words.size() && IsDigitWord(words[i + 1].core);
    if (pronoun_i.count(lower) > 0 || always_capital.count(lower) > 0 ||
        (number_follows && capital_before_number.count(lower) > 0)) {
      core[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(core[0])));
    }
  }
  // The first letter of the sentence.
  for (auto& w : words) {
    if (w.core.empty()) continue;
    w.core[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w.core[0])));
    break;
  }
  std::string out = JoinWords(words);
  if (!EndsSentence(out)) {
    while (!out.empty() &&
           (out.back() == ',' || out.back() == ';' || out.back() == ':' || out.back() == '-')) {
      out.pop_back();
    }
    out += '.';
  }
  return out;
}

std::vector<std::string> ReadableSentences(const std::vector<TimedText>& pieces,
                                           const ReadableOptions& options) {
  std::vector<TimedText> kept;
  std::size_t words = 0;
  std::size_t terminals = 0;
  for (const auto& p : pieces) {
    auto t = CollapseSpaces(p.text);
    if (t.empty()) continue;
    words += CountWords(t);
    terminals += CountTerminals(t);
    kept.push_back({p.start, std::max(p.start, p.end), std::move(t)});
  }
  std::vector<std::string> out;
  if (kept.empty()) return out;

  // Punctuated (manual captions, a punctuating engine): the writer's sentences.
  if (terminals > 0 && words / terminals <= 60) {
    std::string joined;
    for (const auto& p : kept) joined += (joined.empty() ? "" : " ") + p.text;
    for (const auto& s : SplitSentences(joined)) {
      auto polished = PolishSentence(s, options);
      if (!polished.empty()) out.push_back(std::move(polished));
    }
    return out;
  }

  // Unpunctuated: sentences end at pauses.
  std::vector<double> gaps;  // gaps[i]: silence between kept[i] and kept[i + 1]
  for (std::size_t i = 0; i + 1 < kept.size(); ++i) {
    gaps.push_back(std::max(0.0, kept[i + 1].start - kept[i].end));
  }
  double median = 0;
  if (!gaps.empty()) {
    auto sorted = gaps;
    std::nth_element(sorted.begin(),
                     sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
    median = sorted[sorted.size() / 2];
  }
  std::vector<bool> ends(gaps.size(), false);
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    ends[i] = gaps[i] >= options.sentence_pause_seconds ||
              (gaps[i] >= options.min_pause_seconds && gaps[i] >= options.pause_ratio * median);
  }
  // Cuts a run [from, to] of pieces that is too long at its longest inner gap, recursively.
  const auto max_words = static_cast<std::size_t>(std::max(1, options.max_sentence_words));
  auto cut_long = [&](auto&& self, std::size_t from, std::size_t to) -> void {
    std::size_t n = 0;
    for (std::size_t k = from; k <= to; ++k) n += CountWords(kept[k].text);
    if (n <= max_words || from == to) return;
    std::size_t best = from;
    for (std::size_t k = from; k < to; ++k) {
      if (gaps[k] > gaps[best]) best = k;
    }
    ends[best] = true;
    self(self, from, best);
    self(self, best + 1, to);
  };
  std::size_t from = 0;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    if (i + 1 == kept.size() || ends[i]) {
      cut_long(cut_long, from, i);
      from = i + 1;
    }
  }
  std::string sentence;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    sentence += (sentence.empty() ? "" : " ") + kept[i].text;
    if (i + 1 == kept.size() || ends[i]) {
      auto polished = PolishSentence(sentence, options);
      if (!polished.empty()) out.push_back(std::move(polished));
      sentence.clear();
    }
  }
  return out;
}

std::string ReadableText(const std::vector<TimedText>& pieces, const ReadableOptions& options) {
  std::string out;
  for (const auto& s : ReadableSentences(pieces, options)) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

}  // namespace chansum::text
