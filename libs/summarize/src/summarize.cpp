#include "chansum/summarize/summarize.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>

#include "chansum/text/text.hpp"
#include "chansum/text/textrank.hpp"

namespace chansum::summarize {

namespace {

using SparseVector = std::vector<std::pair<int, double>>;  // (term id, weight), sorted by id
using text::Graph;

double Dot(const SparseVector& a, const SparseVector& b) {
  double sum = 0;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].first < b[j].first) {
      ++i;
    } else if (a[i].first > b[j].first) {
      ++j;
    } else {
      sum += a[i++].second * b[j++].second;
    }
  }
  return sum;
}

bool EndsWithTerminal(const std::string& s) {
  if (s.empty()) return false;
  std::size_t end = s.size();
  while (end > 0 && (s[end - 1] == '"' || s[end - 1] == '\'' || s[end - 1] == ')')) --end;
  if (end == 0) return false;
  const char c = s[end - 1];
  return c == '.' || c == '!' || c == '?' ||
         std::string_view(s).substr(0, end).ends_with("\xE2\x80\xA6");
}

std::string AsSentence(const std::string& s) { return EndsWithTerminal(s) ? s : s + "."; }

// Cuts at a word boundary to at most max_chars (never mid-UTF-8 sequence).
std::string CutAtWord(const std::string& s, std::size_t max_chars) {
  if (s.size() <= max_chars) return s;
  std::size_t cut = s.rfind(' ', max_chars);
  if (cut == std::string::npos || cut == 0) {
    cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  }
  return s.substr(0, cut);
}

std::size_t WordCount(const std::vector<text::Token>& tokens) { return tokens.size(); }

struct Prepared {
  std::vector<std::string> sentences;            // collapsed, non-blank
  std::vector<std::vector<text::Token>> tokens;  // per sentence
};

Prepared Prepare(const std::vector<std::string>& input) {
  Prepared p;
  for (const auto& raw : input) {
    auto s = text::CollapseSpaces(raw);
    if (s.empty()) continue;
    p.tokens.push_back(text::Tokenize(s));
    p.sentences.push_back(std::move(s));
  }
  return p;
}

// TF-IDF vectors (log tf, smoothed idf), L2-normalized.
std::vector<SparseVector> TfIdf(const Prepared& p) {
  std::unordered_map<std::string, int> ids;
  std::vector<std::map<int, int>> counts(p.sentences.size());
  std::vector<int> df;
  for (std::size_t i = 0; i < p.tokens.size(); ++i) {
    for (const auto& t : p.tokens[i]) {
      if (!t.content) continue;
      auto [it, inserted] = ids.emplace(t.norm, static_cast<int>(ids.size()));
      if (inserted) df.push_back(0);
      if (counts[i][it->second]++ == 0) ++df[it->second];
    }
  }
  const double n = static_cast<double>(p.sentences.size());
  std::vector<SparseVector> out(p.sentences.size());
  for (std::size_t i = 0; i < counts.size(); ++i) {
    double norm = 0;
    for (const auto& [id, c] : counts[i]) {
      const double w = (1.0 + std::log(static_cast<double>(c))) *
                       (1.0 + std::log((1.0 + n) / (1.0 + static_cast<double>(df[id]))));
      out[i].emplace_back(id, w);
      norm += w * w;
    }
    norm = std::sqrt(norm);
    for (auto& [id, w] : out[i]) w /= norm;
  }
  return out;
}

Graph SentenceGraph(const std::vector<SparseVector>& vectors, const SummarizeOptions& opt) {
  const std::size_t n = vectors.size();
  const std::size_t window = n <= opt.full_graph_limit ? n : std::max<std::size_t>(1, opt.window);
  Graph all(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (vectors[i].empty()) continue;
    const std::size_t last = std::min(n, i + window + 1);
    for (std::size_t j = i + 1; j < last; ++j) {
      const double sim = Dot(vectors[i], vectors[j]);
      if (sim > 1e-9) {
        all[i].emplace_back(static_cast<int>(j), sim);
        all[j].emplace_back(static_cast<int>(i), sim);
      }
    }
  }
  if (opt.max_neighbours == 0) return all;
  // Keep each sentence's strongest edges (and every edge chosen by either end): PageRank then
  // costs O(n * max_neighbours) per iteration however dense the text is.
  const std::size_t keep = opt.max_neighbours;
  auto stronger = [](const std::pair<int, double>& a, const std::pair<int, double>& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  Graph graph(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& edges = all[i];
    if (edges.size() > keep) {
      std::nth_element(edges.begin(), edges.begin() + static_cast<std::ptrdiff_t>(keep),
                       edges.end(), stronger);
      edges.resize(keep);
    }
    for (const auto& [j, w] : edges) {
      graph[i].emplace_back(j, w);
      graph[j].emplace_back(static_cast<int>(i), w);
    }
  }
  for (auto& edges : graph) {  // an edge kept by both ends appears twice: once is enough
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                edges.end());
  }
  return graph;
}

std::size_t TargetSentences(std::size_t n, const SummarizeOptions& opt) {
  std::size_t k = 0;
  if (opt.max_sentences > 0) {
    k = static_cast<std::size_t>(opt.max_sentences);
  } else {
    const auto by_ratio = static_cast<long>(std::lround(opt.ratio * static_cast<double>(n)));
    k = static_cast<std::size_t>(std::clamp<long>(by_ratio, std::max(1, opt.min_auto_sentences),
                                                  std::max(1, opt.max_auto_sentences)));
  }
  return std::max<std::size_t>(1, std::min(k, n > 1 ? n - 1 : 1));
}

}  // namespace

Result<Summary> SummarizeExtractive(const std::vector<std::string>& sentences,
                                    const SummarizeOptions& options) {
  const Prepared p = Prepare(sentences);
  if (p.sentences.empty()) {
    return Error::Permanent("empty_transcript", "empty transcript");
  }
  Summary out;
  out.engine = "textrank";
  const text::PageRankOptions rank{options.damping, options.tolerance, options.max_iterations};
  out.key_points = text::KeyPhrases(p.tokens, options.max_key_points, rank);
  const std::size_t n = p.sentences.size();
  if (n == 1) {
    out.summary = AsSentence(CutAtWord(p.sentences[0], options.max_sentence_chars));
    return out;
  }

  const auto vectors = TfIdf(p);
  const auto score = text::PageRank(SentenceGraph(vectors, options), rank);
  const auto order = text::RankOrder(score);

  // Prefer sentences of at least four words; fragments only if nothing else is there.
  std::vector<int> candidates;
  for (int i : order) {
    if (WordCount(p.tokens[i]) >= 4) candidates.push_back(i);
  }
  if (candidates.empty()) candidates = order;

  std::size_t words = 0;
  for (const auto& t : p.tokens) words += WordCount(t);
  const bool short_text = options.max_sentences == 0 && words <= options.short_text_words;
  const std::size_t k = short_text ? n : TargetSentences(n, options);
  std::size_t transcript_chars = n - 1;
  for (const auto& s : p.sentences) transcript_chars += s.size();

  std::vector<int> picked;
  std::size_t chars = 0;
  for (int i : candidates) {
    if (picked.size() >= k) break;
    const std::size_t len = p.sentences[i].size() + 2;  // "." and separator at most
    if (!picked.empty() && chars + len > options.max_summary_chars) continue;
    bool redundant = false;
    for (int j : picked) {
      if (Dot(vectors[i], vectors[j]) > options.redundancy) redundant = true;
    }
    if (redundant) continue;
    picked.push_back(i);
    chars += len;
  }

  // picked is in rank order; keep dropping the weakest until the summary is shorter than the text.
  while (true) {
    std::vector<int> in_order = picked;
    std::sort(in_order.begin(), in_order.end());
    std::string summary;
    for (int i : in_order) {
      if (!summary.empty()) summary += ' ';
      summary += AsSentence(p.sentences[i]);
    }
    if (short_text || summary.size() < transcript_chars || picked.size() == 1) {
      if (!short_text && summary.size() >= transcript_chars) {  // one sentence, the whole text
        summary = AsSentence(CutAtWord(p.sentences[picked[0]], options.max_sentence_chars));
      }
      out.summary = std::move(summary);
      break;
    }
    picked.pop_back();
  }
  return out;
}

std::vector<std::string> TranscriptSentences(const protocol::Transcript& transcript,
                                             const text::ReadableOptions& options) {
  std::vector<text::TimedText> pieces;
  pieces.reserve(transcript.segments.size());
  for (const auto& s : transcript.segments) pieces.push_back({s.start, s.end, s.text});
  // A transcript stored without segments still has its text.
  if (pieces.empty() && !transcript.text.empty()) pieces.push_back({0, 0, transcript.text});
  return text::ReadableSentences(pieces, options);
}

Result<Summary> SummarizeText(std::string_view input, const SummarizeOptions& options) {
  return SummarizeExtractive(text::SplitSentences(input), options);
}

}  // namespace chansum::summarize
