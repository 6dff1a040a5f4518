#pragma once
// A transcript as the pipeline stores it: timed segments plus the joined text. Segments from ASR
// have no punctuation; they are split at pauses and serve as sentences for the summarizer.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"

namespace chansum::asr {

struct Segment {
  double start = 0;  // seconds from the start of the audio
  double end = 0;    // seconds, >= start
  std::string text;

  bool operator==(const Segment&) const = default;
};

struct Transcript {
  std::string source = "asr";  // "asr" | "captions"
  std::string engine;          // e.g. "pocketsphinx"
  std::string language = "en";
  std::vector<Segment> segments;
  std::string text;  // segment texts joined with single spaces
  double audio_seconds = 0;

  bool operator==(const Transcript&) const = default;
};

// Segment texts joined with single spaces (empty segments skipped).
[[nodiscard]] std::string JoinSegments(const std::vector<Segment>& segments);

// The stored document: {source, engine, language, segments: [{start, end, text}], text,
// audio_seconds}.
[[nodiscard]] nlohmann::json ToJson(const Transcript& transcript);
// Parses a stored document; a malformed one is a permanent error ("bad_transcript"). Missing
// optional fields (language, engine, audio_seconds) take defaults; a missing text is rebuilt from
// the segments.
[[nodiscard]] Result<Transcript> TranscriptFromJson(const nlohmann::json& doc);

}  // namespace chansum::asr
