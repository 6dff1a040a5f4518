#pragma once
// TextRank: weighted PageRank over a graph, and key phrases ranked over the words of a text.
// Deterministic (ties break by position). Pure functions: no I/O.
#include <string>
#include <utility>
#include <vector>

#include "chansum/text/text.hpp"

namespace chansum::text {

// Symmetric weighted adjacency: graph[i] = (neighbour, weight) pairs.
using Graph = std::vector<std::vector<std::pair<int, double>>>;

struct PageRankOptions {
  double damping = 0.85;
  double tolerance = 1e-6;  // stop once the L1 change of the scores is below this
  int max_iterations = 200;
};

// Weighted PageRank; nodes without edges spread their score evenly (standard dangling handling).
[[nodiscard]] std::vector<double> PageRank(const Graph& graph, const PageRankOptions& options = {});

// Indices sorted by score (highest first), ties by position.
[[nodiscard]] std::vector<int> RankOrder(const std::vector<double>& score);

// Key phrases of tokenized sentences (blank ones left out): TextRank over content words
// (co-occurrence within 3 content words of a sentence), then runs of adjacent top words in the
// text, up to three words, scored by the sum of their words' ranks. In a text of four sentences
// or more, phrases said at least twice come first. No two phrases share a word; each is written
// the way the text writes it most often. At most `max_phrases`.
[[nodiscard]] std::vector<std::string> KeyPhrases(const std::vector<std::vector<Token>>& sentences,
                                                  int max_phrases,
                                                  const PageRankOptions& options = {});

// The same over sentences as text: blank sentences are left out, the others tokenized.
[[nodiscard]] std::vector<std::string> KeyPhrases(const std::vector<std::string>& sentences,
                                                  int max_phrases,
                                                  const PageRankOptions& options = {});

}  // namespace chansum::text
