#pragma once
// Output formats of the stored documents (transcripts, summaries, digests) and the job export
// archive. Pure functions over the documents as the document store holds them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace chansum::orchestrator {

// "00:01:02,500" (srt) or "00:01:02.500" (vtt).
[[nodiscard]] std::string FormatCueTime(double seconds, char decimal_separator);

// A transcript document ({segments: [{start, end, text}], text, ...}) as
//   txt: one line per segment (the text field when there are no segments)
//   srt: SubRip cues numbered from 1
//   vtt: WebVTT with a Language header
[[nodiscard]] std::string TranscriptAsText(const nlohmann::json& transcript);
[[nodiscard]] std::string TranscriptAsSrt(const nlohmann::json& transcript);
[[nodiscard]] std::string TranscriptAsVtt(const nlohmann::json& transcript);

// A summary document ({summary, key_points, engine, model}) as Markdown; `title` heads it.
[[nodiscard]] std::string SummaryAsMarkdown(const nlohmann::json& summary,
                                            const std::string& title);

// One video of an export: title, link, summary, key points and the transcript text.
[[nodiscard]] std::string VideoMarkdown(const nlohmann::json& video,
                                        const std::optional<nlohmann::json>& summary,
                                        const std::optional<nlohmann::json>& transcript);

// The digest of a finished job, from its view (GET /jobs/{id}) and the summaries of its videos
// (keyed by video id): recurring themes (key phrases of the channel, ranked by how many videos
// share them, then by TextRank over all summaries) and one line per video.
[[nodiscard]] nlohmann::json BuildDigest(const nlohmann::json& job_view,
                                         const nlohmann::json& summaries_by_video,
                                         const std::string& generated_at);
[[nodiscard]] std::string DigestAsMarkdown(const nlohmann::json& digest);

// "01-printing-press.md": position and a file-safe video id.
[[nodiscard]] std::string ExportFileName(int position, const std::string& video_id);

}  // namespace chansum::orchestrator
