#include "chansum/text/text.hpp"

#include "chansum/common/strings.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_set>

namespace chansum::text {
namespace {

bool IsWordByte(unsigned char c) { return std::isalnum(c) != 0 || c == '\'' || c >= 0x80; }

const std::unordered_set<std::string_view>& StopWords() {
  // English function words, spoken fillers (ASR transcripts are speech) and number words.
  static const std::unordered_set<std::string_view> words = {
      "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
      "are", "aren't", "around", "as", "at", "be", "because", "been", "before", "being", "below",
      "between", "both", "but", "by", "can", "can't", "cannot", "could", "couldn't", "did",
      "didn't", "do", "does", "doesn't", "doing", "don't", "down", "during", "each", "either",
      "else", "even", "ever", "every", "few", "for", "from", "further", "had", "hadn't", "has",
      "hasn't", "have", "haven't", "having", "he", "he'd", "he'll", "he's", "her", "here", "here's",
      "hers", "herself", "him", "himself", "his", "how", "how's", "however", "i", "i'd", "i'll",
      "i'm", "i've", "if", "in", "into", "is", "isn't", "it", "it's", "its", "itself", "just",
      "let's", "may", "me", "might", "more", "most", "much", "must", "mustn't", "my", "myself",
      "neither", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other",
      "ought", "our", "ours", "ourselves", "out", "over", "own", "per", "same", "shall", "shan't",
      "she", "she'd", "she'll", "she's", "should", "shouldn't", "since", "so", "some", "such",
      "than", "that", "that's", "the", "their", "theirs", "them", "themselves", "then", "there",
      "there's", "these", "they", "they'd", "they'll", "they're", "they've", "this", "those",
      "though", "through", "thus", "to", "too", "under", "until", "up", "upon", "us", "very", "was",
      "wasn't", "we", "we'd", "we'll", "we're", "we've", "were", "weren't", "what", "what's",
      "when", "when's", "where", "where's", "whether", "which", "while", "who", "who's", "whom",
      "whose", "why", "why's", "will", "with", "within", "without", "won't", "would", "wouldn't",
      "yet", "you", "you'd", "you'll", "you're", "you've", "your", "yours", "yourself",
      "yourselves",
      // spoken fillers and vague words
      "uh", "um", "uhm", "er", "ah", "oh", "hmm", "mm", "yeah", "yes", "okay", "ok", "like", "well",
      "really", "actually", "basically", "literally", "right", "sort", "kind", "thing", "things",
      "stuff", "lot", "lots", "gonna", "wanna", "gotta", "got", "get", "gets", "getting", "go",
      "goes", "going", "went", "know", "think", "mean", "say", "said", "says", "see", "look",
      "make", "made", "way", "want", "one's", "something", "anything", "everything", "nothing",
      "someone", "anyone", "everyone", "people", "many", "still", "back", "just", "quite", "pretty",
      "maybe", "perhaps", "already", "always", "never", "often", "sometimes", "today", "new",
      "first", "last", "next", "another", "us", "let", "put", "take", "took", "come", "came", "use",
      "used", "using", "need", "needs",
      // prepositions the list above lacks
      "across", "along", "among", "amongst", "toward", "towards", "behind", "beside", "besides",
      "beyond", "near", "onto", "via", "throughout", "inside", "outside",
      // number words
      "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
      "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
      "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
      "hundred", "thousand", "million", "billion", "second", "third"};
  return words;
}

}  // namespace

bool IsStopWord(std::string_view lowercase_word) { return StopWords().count(lowercase_word) > 0; }

std::string Normalize(std::string_view w) {
  if (w.size() > 2 && (w.ends_with("'s") || w.ends_with("s'"))) w.remove_suffix(2);
  std::string out(w);
  const auto n = out.size();
  if (n > 4 && out.ends_with("ies")) {
    out.replace(n - 3, 3, "y");
  } else if (n > 3 && out.back() == 's' && !out.ends_with("ss") && !out.ends_with("us") &&
             !out.ends_with("is") && !out.ends_with("'s")) {
    out.pop_back();
  }
  return out;
}

std::vector<Token> Tokenize(std::string_view sentence) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < sentence.size()) {
    while (i < sentence.size() && !IsWordByte(static_cast<unsigned char>(sentence[i]))) ++i;
    std::size_t j = i;
    while (j < sentence.size() && IsWordByte(static_cast<unsigned char>(sentence[j]))) ++j;
    std::string_view word = sentence.substr(i, j - i);
    while (!word.empty() && word.front() == '\'') word.remove_prefix(1);
    while (!word.empty() && word.back() == '\'') word.remove_suffix(1);
    if (!word.empty()) {
      Token t;
      t.surface = std::string(word);
      const std::string lower = AsciiLower(word);
      const bool all_digits = std::all_of(lower.begin(), lower.end(), [](unsigned char c) {
        return std::isdigit(c) != 0 || c == '\'';
      });
      t.content = lower.size() >= 2 && !IsStopWord(lower) && !(all_digits && lower.size() < 3);
      t.norm = Normalize(lower);
      if (t.content && IsStopWord(t.norm)) t.content = false;  // "things" -> "thing"
      out.push_back(std::move(t));
    }
    i = j;
  }
  return out;
}

std::string CollapseSpaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      pending_space = !out.empty();
    } else {
      if (pending_space) out.push_back(' ');
      pending_space = false;
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace chansum::text
