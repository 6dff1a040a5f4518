#pragma once
// Output formats of the stored documents (transcripts, summaries, digests) and the job export
// archive. Pure functions over the documents of the contract (chansum/protocol/documents.hpp).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/protocol/documents.hpp"
#include "chansum/text/readable.hpp"

namespace chansum::orchestrator {

// "00:01:02,500" (srt) or "00:01:02.500" (vtt).
[[nodiscard]] std::string FormatCueTime(double seconds, char decimal_separator);

// A transcript as
//   txt: readable text, one sentence per line (text::ReadableSentences over the segments, or over
//        the text field when there are no segments)
//   srt: SubRip cues numbered from 1
//   vtt: WebVTT with a Language header
// `readable` sets how txt is polished (its proper nouns: TEXT_PROPER_NOUNS).
[[nodiscard]] std::string TranscriptAsText(const protocol::Transcript& transcript,
                                           const text::ReadableOptions& readable = {});
[[nodiscard]] std::string TranscriptAsSrt(const protocol::Transcript& transcript);
[[nodiscard]] std::string TranscriptAsVtt(const protocol::Transcript& transcript);

// A summary as Markdown; `title` (the video's title) heads it.
[[nodiscard]] std::string SummaryAsMarkdown(const protocol::Summary& summary,
                                            const std::string& title);

// One video of an export: title, link, summary, key points and the transcript text.
[[nodiscard]] std::string VideoMarkdown(const nlohmann::json& video,
                                        const std::optional<protocol::Summary>& summary,
                                        const std::optional<protocol::Transcript>& transcript,
                                        const text::ReadableOptions& readable = {});

// The digest of a finished job, from its view (GET /jobs/{id}) and the summaries of its videos
// (keyed by video id): recurring themes (key phrases of the channel, ranked by how many videos
// share them, then by TextRank over all summaries) and one line per video.
[[nodiscard]] nlohmann::json BuildDigest(
    const nlohmann::json& job_view,
    const std::map<std::string, protocol::Summary>& summaries_by_video,
    const std::string& generated_at);
[[nodiscard]] std::string DigestAsMarkdown(const nlohmann::json& digest);

// "01-printing-press.md": position and a file-safe video id.
[[nodiscard]] std::string ExportFileName(int position, const std::string& video_id);

}  // namespace chansum::orchestrator
