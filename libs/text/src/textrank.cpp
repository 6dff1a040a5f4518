#include "chansum/text/textrank.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <unordered_map>

namespace chansum::text {

std::vector<double> PageRank(const Graph& graph, const PageRankOptions& opt) {
  const std::size_t n = graph.size();
  std::vector<double> score(n, 1.0 / static_cast<double>(n));
  std::vector<double> out_weight(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& [j, w] : graph[i]) out_weight[i] += w;
  }
  std::vector<double> next(n);
  const double d = opt.damping;
  for (int iter = 0; iter < opt.max_iterations; ++iter) {
    double dangling = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (out_weight[i] <= 0) dangling += score[i];
    }
    const double base = (1.0 - d) / static_cast<double>(n) + d * dangling / static_cast<double>(n);
    for (std::size_t i = 0; i < n; ++i) {
      double in = 0;
      for (const auto& [j, w] : graph[i]) in += w / out_weight[j] * score[j];
      next[i] = base + d * in;
    }
    double delta = 0;
    for (std::size_t i = 0; i < n; ++i) delta += std::abs(next[i] - score[i]);
    score.swap(next);
    if (delta < opt.tolerance) break;
  }
  return score;
}

std::vector<int> RankOrder(const std::vector<double>& score) {
  std::vector<int> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return score[a] > score[b]; });
  return order;
}

std::vector<std::string> KeyPhrases(const std::vector<std::vector<Token>>& sentences,
                                    int max_phrases, const PageRankOptions& options) {
  if (max_phrases <= 0) return {};
  std::unordered_map<std::string, int> ids;
  std::vector<std::string> words;
  for (const auto& sentence : sentences) {
    for (const auto& t : sentence) {
      if (t.content && ids.emplace(t.norm, static_cast<int>(words.size())).second) {
        words.push_back(t.norm);
      }
    }
  }
  if (words.empty()) return {};
  std::map<std::pair<int, int>, double> edges;
  constexpr std::size_t kWindow = 3;
  for (const auto& sentence : sentences) {
    std::vector<int> seq;
    for (const auto& t : sentence) {
      if (t.content) seq.push_back(ids.at(t.norm));
    }
    for (std::size_t i = 0; i < seq.size(); ++i) {
      for (std::size_t j = i + 1; j < std::min(seq.size(), i + kWindow); ++j) {
        if (seq[i] != seq[j]) edges[std::minmax(seq[i], seq[j])] += 1.0;
      }
    }
  }
  Graph graph(words.size());
  for (const auto& [e, w] : edges) {
    graph[e.first].emplace_back(e.second, w);
    graph[e.second].emplace_back(e.first, w);
  }
  const auto score = PageRank(graph, options);
  const auto order = RankOrder(score);
  const std::size_t top_n = std::clamp<std::size_t>(words.size() / 3, 5, 20);
  std::vector<bool> top(words.size(), false);
  for (std::size_t i = 0; i < std::min(top_n, order.size()); ++i) top[order[i]] = true;

  struct Phrase {
    double score = 0;
    int count = 0;
    std::size_t first = 0;  // first occurrence (token index over the whole text)
    std::size_t size = 0;   // words
    std::map<std::string, int> surfaces;
    // Spellings at the start of a sentence, where the first letter is capitalised whatever the
    // word: used only when the phrase occurs nowhere else.
    std::map<std::string, int> initial_surfaces;
  };
  std::map<std::string, Phrase> phrases;  // key: normalized words joined by spaces
  std::size_t position = 0;
  for (const auto& sentence : sentences) {
    std::size_t i = 0;
    while (i < sentence.size()) {
      if (!sentence[i].content || !top[ids.at(sentence[i].norm)]) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < sentence.size() && j - i < 3 && sentence[j].content &&
             top[ids.at(sentence[j].norm)]) {
        ++j;
      }
      // Every contiguous part of the run is a candidate, so "literacy" counts as said twice in
      // "spread literacy ... literacy grew".
      for (std::size_t a = i; a < j; ++a) {
        std::string key;
        std::string surface;
        double sum = 0;
        for (std::size_t b = a; b < j; ++b) {
          key += (b > a ? " " : "") + sentence[b].norm;
          surface += (b > a ? " " : "") + sentence[b].surface;
          sum += score[ids.at(sentence[b].norm)];
          auto& ph = phrases[key];
          if (ph.count++ == 0) {
            ph.first = position + a;
            ph.score = sum;
            ph.size = b - a + 1;
          }
          ++(a == 0 ? ph.initial_surfaces : ph.surfaces)[surface];
        }
      }
      i = j;
    }
    position += sentence.size();
  }

  // Phrases said at least twice come first (in a text long enough for repeats to mean anything;
  // one-off runs are often recognition errors or asides), then by score, then by position.
  const bool prefer_repeats = sentences.size() >= 4;
  std::vector<std::pair<std::string, const Phrase*>> candidates;
  candidates.reserve(phrases.size());
  for (const auto& [key, ph] : phrases) candidates.emplace_back(key, &ph);
  auto tier = [&](const Phrase* ph) {
    if (!prefer_repeats || ph->count >= 2) return 0;
    return ph->size > 1 ? 2 : 1;  // multi-word one-offs last
  };
  std::stable_sort(candidates.begin(), candidates.end(), [&](const auto& a, const auto& b) {
    if (tier(a.second) != tier(b.second)) return tier(a.second) < tier(b.second);
    if (a.second->score != b.second->score) return a.second->score > b.second->score;
    return a.second->first < b.second->first;
  });
  const std::size_t min_points = std::min<std::size_t>(3, static_cast<std::size_t>(max_phrases));
  std::vector<std::string> chosen_keys;
  std::vector<std::string> out;
  auto shares_word = [](const std::string& a, const std::string& b) {
    std::istringstream in(b);
    for (std::string w; in >> w;) {
      if ((" " + a + " ").find(" " + w + " ") != std::string::npos) return true;
    }
    return false;
  };
  for (const auto& [key, ph] : candidates) {
    if (out.size() >= static_cast<std::size_t>(max_phrases)) break;
    if (tier(ph) > 0 && out.size() >= min_points) break;  // one-offs only to reach the minimum
    bool covered = false;
    for (const auto& c : chosen_keys) {
      if (shares_word(c, key)) covered = true;  // "metal type" after "movable metal"
    }
    if (covered) continue;
    // A run that repeats a word ("gas gas", a recognition stutter) is no phrase.
    std::set<std::string> seen;
    std::istringstream in(key);
    bool repeats = false;
    for (std::string w; in >> w;) repeats = repeats || !seen.insert(w).second;
    if (repeats) continue;
    // The most frequent way of writing the phrase (ties: alphabetical, deterministic).
    const auto& surfaces = ph->surfaces.empty() ? ph->initial_surfaces : ph->surfaces;
    const auto best =
        std::max_element(surfaces.begin(), surfaces.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    chosen_keys.push_back(key);
    out.push_back(best->first);
  }
  return out;
}

std::vector<std::string> KeyPhrases(const std::vector<std::string>& sentences, int max_phrases,
                                    const PageRankOptions& options) {
  std::vector<std::vector<Token>> tokens;
  for (const auto& raw : sentences) {
    const auto s = CollapseSpaces(raw);
    if (!s.empty()) tokens.push_back(Tokenize(s));
  }
  return KeyPhrases(tokens, max_phrases, options);
}

}  // namespace chansum::text
