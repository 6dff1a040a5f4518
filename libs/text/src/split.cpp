#include <algorithm>
#include <cctype>
#include <string>
#include <unordered_set>

#include "chansum/common/strings.hpp"
#include "chansum/text/text.hpp"

namespace chansum::text {
namespace {

bool IsAbbreviation(std::string_view word) {
  if (word.empty()) return false;
  // Written lowercase and holding a dot, so never an ASR word that had "." appended.
  static const std::unordered_set<std::string_view> dotted = {"e.g", "i.e", "a.m", "p.m",
                                                              "U.S", "U.K", "U.N", "E.U"};
  if (dotted.count(word) > 0) return true;
  // Others only capitalized ("Mr.", "Dr.", "Jan."), so that lowercase speech such as
  // "ask the dr" + "." still ends a sentence.
  if (std::isupper(static_cast<unsigned char>(word[0])) == 0) return false;
  static const std::unordered_set<std::string_view> abbreviations = {
      "mr",  "mrs",  "ms",  "dr",   "prof", "sr",   "jr",  "st",  "vs",  "etc",    "inc", "ltd",
      "co",  "corp", "no",  "vol",  "fig",  "dept", "est", "jan", "feb", "mar",    "apr", "jun",
      "jul", "aug",  "sep", "sept", "oct",  "nov",  "dec", "gen", "gov", "approx", "sen", "rep"};
  const std::string lower = AsciiLower(word);
  // Initials: "J." in "J. R. R. Tolkien".
  return abbreviations.count(lower) > 0 || word.size() == 1;
}

bool IsCloser(char c) { return c == '"' || c == '\'' || c == ')' || c == ']'; }

}  // namespace

std::vector<std::string> SplitSentences(std::string_view text) {
  std::vector<std::string> out;
  auto emit = [&](std::size_t from, std::size_t to) {
    auto s = CollapseSpaces(text.substr(from, to - from));
    // Pieces without a letter or digit (stray punctuation) are not sentences.
    const bool has_word = std::any_of(
        s.begin(), s.end(), [](unsigned char ch) { return std::isalnum(ch) != 0 || ch >= 0x80; });
    if (has_word) out.push_back(std::move(s));
  };
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    // A blank line ends a sentence.
    if (c == '\n') {
      std::size_t j = i + 1;
      while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r')) ++j;
      if (j < text.size() && text[j] == '\n') {
        emit(start, i);
        start = i = j + 1;
        continue;
      }
    }
    std::size_t end = std::string_view::npos;  // one past the terminator
    if (c == '.' || c == '!' || c == '?') {
      end = i + 1;
      while (end < text.size() && (text[end] == '.' || text[end] == '!' || text[end] == '?')) {
        ++end;
      }
    } else if (text.substr(i).starts_with("\xE2\x80\xA6")) {  // "…"
      end = i + 3;
    }
    if (end == std::string_view::npos) {
      ++i;
      continue;
    }
    while (end < text.size() && IsCloser(text[end])) ++end;
    const bool at_space =
        end >= text.size() || std::isspace(static_cast<unsigned char>(text[end])) != 0;
    bool split = at_space;
    if (split && c == '.' && end == i + 1) {
      // "Mr. Smith", "e.g. this": the word before the dot is an abbreviation.
      std::size_t w = i;
      while (w > start && !std::isspace(static_cast<unsigned char>(text[w - 1]))) --w;
      std::string_view word = text.substr(w, i - w);
      while (!word.empty() && (word.front() == '(' || word.front() == '"')) word.remove_prefix(1);
      if (IsAbbreviation(word)) split = false;
    }
    if (split) {
      emit(start, end);
      start = end;
    }
    i = end;
  }
  emit(start, text.size());
  return out;
}

}  // namespace chansum::text
