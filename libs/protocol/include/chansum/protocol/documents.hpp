#pragma once
// The documents of the document store (proto/documents/<name>.schema.json) and their collections.
// Every writer and reader goes through these types: the stages that store transcripts and
// summaries, the discovery's reuse check and the API's outputs.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"

namespace chansum::protocol {

// Collections, keyed by video id (transcripts, summaries) or job id (digests).
inline constexpr const char* kTranscriptsCollection = "transcripts";
inline constexpr const char* kSummariesCollection = "summaries";
inline constexpr const char* kDigestsCollection = "digests";

// A transcript: timed segments plus the joined text. Segments from ASR have no punctuation; they
// are split at pauses and serve as sentences for the summarizer.
struct TranscriptSegment {
  double start = 0;  // seconds from the start of the audio
  double end = 0;    // seconds, >= start
  std::string text;

  bool operator==(const TranscriptSegment&) const = default;
};

struct Transcript {
  std::string source = "asr";  // "asr" | "captions"
  std::string engine;          // e.g. "pocketsphinx"
  std::string language = "en";
  std::vector<TranscriptSegment> segments;
  std::string text;  // segment texts joined with single spaces
  double audio_seconds = 0;

  bool operator==(const Transcript&) const = default;
};

// Segment texts joined with single spaces (empty segments skipped).
[[nodiscard]] std::string JoinSegments(const std::vector<TranscriptSegment>& segments);

// The stored document: {source, engine, language, segments: [{start, end, text}], text,
// audio_seconds}.
[[nodiscard]] nlohmann::json ToJson(const Transcript& transcript);
// Parses a stored document; a malformed one is a permanent error ("bad_transcript"). Missing
// optional fields (language, engine, audio_seconds) take defaults; a missing text is rebuilt from
// the segments.
[[nodiscard]] Result<Transcript> TranscriptFromJson(const nlohmann::json& doc);

// Tokens an LLM summary took (summaries written by SUMMARY_BACKEND=openai).
struct SummaryUsage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
  std::int64_t calls = 0;

  bool operator==(const SummaryUsage&) const = default;
};

struct Summary {
  std::string summary;
  std::vector<std::string> key_points;
  std::string engine = "textrank";
  std::string model;  // empty for the embedded engine; the LLM model name otherwise
  // Set by the LLM backend only: what it cost, how many chunks, and the model it asked for (a
  // redelivered command that finds this model's summary spends no tokens again).
  std::optional<SummaryUsage> usage;
  std::optional<std::int64_t> chunks;
  std::string requested_model;

  bool operator==(const Summary&) const = default;
};

// The stored document: {summary, key_points, engine, model} plus usage, chunks and
// requested_model when set.
[[nodiscard]] nlohmann::json ToJson(const Summary& summary);
// A malformed document is a permanent "bad_summary" error.
[[nodiscard]] Result<Summary> SummaryFromJson(const nlohmann::json& doc);

}  // namespace chansum::protocol
