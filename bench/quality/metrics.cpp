#include "metrics.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace chansum::quality {

std::vector<std::string> NormalizeWords(std::string_view text) {
  std::vector<std::string> words;
  std::string w;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || (ch == '\'' && !w.empty())) {
      w.push_back(static_cast<char>(std::tolower(c)));
    } else if (!w.empty()) {
      while (!w.empty() && w.back() == '\'') w.pop_back();
      if (!w.empty()) words.push_back(std::move(w));
      w.clear();
    }
  }
  while (!w.empty() && w.back() == '\'') w.pop_back();
  if (!w.empty()) words.push_back(std::move(w));
  return words;
}

WordErrors WordErrorRate(const std::vector<std::string>& ref, const std::vector<std::string>& hyp) {
  struct Cell {
    std::size_t cost = 0, s = 0, d = 0, i = 0;
  };
  std::vector<Cell> prev(hyp.size() + 1);
  std::vector<Cell> cur(hyp.size() + 1);
  for (std::size_t j = 0; j <= hyp.size(); ++j) prev[j] = {j, 0, 0, j};
  for (std::size_t r = 1; r <= ref.size(); ++r) {
    cur[0] = {r, 0, r, 0};
    for (std::size_t j = 1; j <= hyp.size(); ++j) {
      const bool same = ref[r - 1] == hyp[j - 1];
      Cell best = prev[j - 1];
      if (!same) {
        ++best.cost;
        ++best.s;
      }
      Cell del = prev[j];
      ++del.cost;
      ++del.d;
      Cell ins = cur[j - 1];
      ++ins.cost;
      ++ins.i;
      if (del.cost < best.cost) best = del;
      if (ins.cost < best.cost) best = ins;
      cur[j] = best;
    }
    std::swap(prev, cur);
  }
  const Cell& end = prev[hyp.size()];
  return {end.s, end.d, end.i, ref.size()};
}

double KeyWordRecall(const std::vector<std::string>& key_words, std::string_view text) {
  if (key_words.empty()) return 1.0;
  const auto words = NormalizeWords(text);
  const std::set<std::string> present(words.begin(), words.end());
  std::size_t found = 0;
  for (const auto& k : key_words) {
    const auto norm = NormalizeWords(k);
    if (!norm.empty() && std::all_of(norm.begin(), norm.end(),
                                     [&](const std::string& w) { return present.contains(w); })) {
      ++found;
    }
  }
  return static_cast<double>(found) / static_cast<double>(key_words.size());
}

}  // namespace chansum::quality
