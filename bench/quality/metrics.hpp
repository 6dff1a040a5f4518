#pragma once
// The arithmetic of the quality bench: word error rate and key-word recall.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace chansum::quality {

// Lower-case words of `text`: letters, digits and apostrophes; everything else separates words
// ("Gutenberg's press, 1450." -> gutenberg's press 1450).
[[nodiscard]] std::vector<std::string> NormalizeWords(std::string_view text);

struct WordErrors {
  std::size_t substitutions = 0;
  std::size_t deletions = 0;
  std::size_t insertions = 0;
  std::size_t reference_words = 0;

  [[nodiscard]] std::size_t edits() const { return substitutions + deletions + insertions; }
  // (S + D + I) / N; 0 for an empty reference with an empty hypothesis, 1 per inserted word
  // otherwise.
  [[nodiscard]] double rate() const {
    if (reference_words == 0) return edits() == 0 ? 0.0 : static_cast<double>(edits());
    return static_cast<double>(edits()) / static_cast<double>(reference_words);
  }
  WordErrors& operator+=(const WordErrors& o) {
    substitutions += o.substitutions;
    deletions += o.deletions;
    insertions += o.insertions;
    reference_words += o.reference_words;
    return *this;
  }
};

// Minimum edit alignment (Levenshtein over words) of hypothesis against reference.
[[nodiscard]] WordErrors WordErrorRate(const std::vector<std::string>& reference,
                                       const std::vector<std::string>& hypothesis);

// Fraction of key words (normalized) that occur among the words of `text`; 1 for no key words.
[[nodiscard]] double KeyWordRecall(const std::vector<std::string>& key_words,
                                   std::string_view text);

}  // namespace chansum::quality
