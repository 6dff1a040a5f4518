#pragma once
// WebVTT (https://www.w3.org/TR/webvtt1/) as yt-dlp writes subtitles: cues with timings and cue
// settings ("align:start position:0%"), optional cue identifiers, NOTE/STYLE/REGION blocks, and
// text with tags (<c>, <i>, <b>, <v Speaker>, <00:00:01.230> timestamps) and entities.
//
// Automatic YouTube captions "roll": every line is shown twice or more (once while it is being
// spoken, with inline word timestamps, then again above the next line), plus 10 ms cues that only
// repeat the previous text. CaptionSegments() removes those repeats so each spoken line appears
// once, timed from the cue where it first appeared.
#include <string>
#include <string_view>
#include <vector>

#include "chansum/common/result.hpp"

namespace chansum::media {

struct CaptionCue {
  double start = 0;  // seconds
  double end = 0;    // seconds, >= start
  // Text lines with tags removed, entities decoded, whitespace collapsed; empty lines dropped.
  std::vector<std::string> lines;
  // Per line: the start of each of its words from inline timestamps ("word<00:00:01.230><c>
  // next</c>", automatic captions; a word before the first timestamp starts with the cue), or
  // empty when the line has no timestamps or they do not match its words.
  std::vector<std::vector<double>> word_starts;

  bool operator==(const CaptionCue&) const = default;
};

struct CaptionSegment {
  double start = 0;
  double end = 0;
  std::string text;

  bool operator==(const CaptionSegment&) const = default;
};

// Parses a WebVTT file. Input without the "WEBVTT" signature is a permanent "invalid_webvtt"
// error; cues with malformed timings are skipped (as browsers do). Cues come back in file order.
[[nodiscard]] Result<std::vector<CaptionCue>> ParseWebVtt(std::string_view text);

// Removes tags (<c.colorE5E5E5>, </c>, <i>, <00:00:01.000>, <v Name>), decodes the common entities
// (&amp; &lt; &gt; &nbsp; &quot; &#39; &#NN;) and collapses whitespace.
[[nodiscard]] std::string CleanCueText(std::string_view text);

// Timed segments without rolling duplicates: a line equal to one of the last lines already taken
// is dropped; a line that extends the previous one ("so today" -> "so today we") replaces it.
// A line with word timestamps is split where the speaker pauses (the time between two words'
// starts exceeds what the first word takes, at the line's speaking rate, by kCaptionPauseSeconds
// or more), so the pauses, which mark sentence ends in unpunctuated captions, become gaps between
// segments.
inline constexpr double kCaptionPauseSeconds = 0.3;
[[nodiscard]] std::vector<CaptionSegment> CaptionSegments(const std::vector<CaptionCue>& cues);

// ParseWebVtt + CaptionSegments.
[[nodiscard]] Result<std::vector<CaptionSegment>> ParseCaptionSegments(std::string_view text);

}  // namespace chansum::media
