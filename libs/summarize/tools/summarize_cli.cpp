// chansum-summarize [--split] [--synthetic N]
// Summarizes stdin with the embedded extractive summarizer and prints the JSON document; the time
// taken goes to stderr. Input is one sentence per line (ASR segments) or, with --split,
// punctuated text. --synthetic N summarizes N generated sentences instead (for measurements).
#include <chrono>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "chansum/summarize/summarize.hpp"

namespace {

std::vector<std::string> Synthetic(std::size_t n) {
  static const char* kWords[] = {
      "printing", "press",     "germany", "europe",  "literacy", "books",    "scholars", "ideas",
      "metal",    "type",      "ink",     "paper",   "church",   "reform",   "science",  "trade",
      "cities",   "merchants", "latin",   "bible",   "copies",   "workshop", "guild",    "market",
      "history",  "century",   "readers", "letters", "machines", "knowledge"};
  std::uint64_t state = 42;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>(state >> 33);
  };
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string s = "the";
    const std::size_t len = 6 + next() % 12;
    for (std::size_t w = 0; w < len; ++w) {
      s += ' ';
      s += kWords[next() % std::size(kWords)];
      if (w % 3 == 2) s += " of the";
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  bool split = false;
  std::size_t synthetic = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--split") {
      split = true;
    } else if (arg == "--synthetic" && i + 1 < argc) {
      synthetic = std::stoul(argv[++i]);
    } else {
      std::cerr << "usage: chansum-summarize [--split] [--synthetic N] < input\n";
      return 2;
    }
  }
  std::vector<std::string> sentences;
  if (synthetic > 0) {
    sentences = Synthetic(synthetic);
  } else if (split) {
    const std::string text(std::istreambuf_iterator<char>(std::cin), {});
    sentences = chansum::summarize::SplitSentences(text);
  } else {
    for (std::string line; std::getline(std::cin, line);) sentences.push_back(line);
  }
  const auto start = std::chrono::steady_clock::now();
  auto summary = chansum::summarize::SummarizeExtractive(sentences);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!summary.ok()) {
    std::cerr << summary.error().ToString() << "\n";
    return 1;
  }
  std::cout << chansum::summarize::ToJson(*summary).dump(2) << "\n";
  std::cerr << sentences.size() << " sentences summarized in " << took * 1000 << " ms\n";
  return 0;
}
