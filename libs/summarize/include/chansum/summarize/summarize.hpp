#pragma once
// The embedded extractive summarizer (no network): TextRank over sentences for the summary and
// TextRank over words for the key points (libs/text: text::KeyPhrases).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/text/readable.hpp"
#include "chansum/text/text.hpp"

namespace chansum::summarize {

// The stored summary document is the contract's (chansum/protocol/documents.hpp); the engines
// return it as it is.
using protocol::Summary;
using protocol::SummaryFromJson;
using protocol::ToJson;

struct SummarizeOptions {
  // Sentences in the summary; 0 = automatic: ratio of the sentences, within [min_auto, max_auto],
  // and always fewer than the input has (when it has more than one).
  int max_sentences = 0;
  double ratio = 0.2;
  int min_auto_sentences = 3;
  int max_auto_sentences = 8;
  // A text of at most this many words (a clip of about 20 s of speech) keeps every sentence that
  // is neither a fragment (under four words) nor a repeat: cutting two or three sentences to one
  // loses what the clip says. Only with max_sentences = 0; 0 = every text is cut as above.
  std::size_t short_text_words = 60;
  // Stop adding sentences once the summary would exceed this (the best sentence always goes in).
  std::size_t max_summary_chars = 2000;
  // A one-sentence input is cut to this many characters (at a word boundary).
  std::size_t max_sentence_chars = 400;
  // Key phrases returned (fewer when the text has fewer distinct content words).
  int max_key_points = 6;
  // Up to full_graph_limit sentences every pair is compared; beyond that each sentence is compared
  // with its `window` neighbours on either side, which keeps long transcripts linear.
  std::size_t full_graph_limit = 1000;
  std::size_t window = 150;
  // Each sentence keeps its strongest max_neighbours edges (0 = all), bounding PageRank's work.
  std::size_t max_neighbours = 30;
  // A candidate whose TF-IDF cosine similarity to an already chosen sentence exceeds this is
  // skipped (a phrase said again, recognized with slightly different errors; repeated captions).
  double redundancy = 0.4;
  // PageRank.
  double damping = 0.85;
  double tolerance = 1e-6;
  int max_iterations = 200;
};

// Summarizes sentences (ASR segments or SplitSentences() output). The summary is the top-ranked
// sentences, verbatim, in their original order (a short text: all but its fragments and repeats),
// each ending in terminal punctuation (a "." is added to sentences that have none, e.g. ASR
// segments), joined with single spaces. Key points are the top key phrases. Deterministic: the same
// input gives the same output. Errors: no non-blank sentence -> permanent "empty_transcript"
// ("empty transcript").
[[nodiscard]] Result<Summary> SummarizeExtractive(const std::vector<std::string>& sentences,
                                                  const SummarizeOptions& options = {});

// Sentence splitting is libs/text's (chansum/text/text.hpp), named here too for the callers of
// SummarizeExtractive.
using text::SplitSentences;

// The sentences a summarizer sees for a stored transcript: its segments made readable
// (text::ReadableSentences: sentence ends from pauses between segments or cue ends, or the
// captions' own punctuation; capitalised; spoken numbers as digits where safe).
[[nodiscard]] std::vector<std::string> TranscriptSentences(
    const protocol::Transcript& transcript, const text::ReadableOptions& options = {});

// SplitSentences then SummarizeExtractive.
[[nodiscard]] Result<Summary> SummarizeText(std::string_view text,
                                            const SummarizeOptions& options = {});

}  // namespace chansum::summarize
