#pragma once
// Plain-text helpers shared by the extractive summarizer and the channel digest: sentence
// splitting, word tokens, an English stop-word list, a light plural stemmer. Pure functions: no
// I/O.
#include <string>
#include <string_view>
#include <vector>

namespace chansum::text {

struct Token {
  std::string surface;   // as written, e.g. "Books"
  std::string norm;      // lowercase, possessive and plural stripped, e.g. "book"
  bool content = false;  // not a stop word, filler or number word, at least two characters
};

// Words are runs of letters, digits, apostrophes and non-ASCII bytes (UTF-8 letters).
[[nodiscard]] std::vector<Token> Tokenize(std::string_view sentence);

[[nodiscard]] bool IsStopWord(std::string_view lowercase_word);

// "books" -> "book", "stories" -> "story", "press" -> "press", "europe's" -> "europe".
[[nodiscard]] std::string Normalize(std::string_view lowercase_word);

// Trims and collapses runs of whitespace to single spaces.
[[nodiscard]] std::string CollapseSpaces(std::string_view s);

// Splits punctuated text (captions, summaries) into sentences at ".", "!", "?" and "…" followed
// by space, keeping the punctuation; knows common abbreviations ("Mr.", "e.g.") and initials;
// collapses whitespace. Blank lines also end a sentence.
[[nodiscard]] std::vector<std::string> SplitSentences(std::string_view text);

}  // namespace chansum::text
