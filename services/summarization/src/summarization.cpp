#include "summarization.hpp"

#include "chansum/asr/transcript.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/summarize/summarize.hpp"

namespace chansum::summarization {

stage::StageDefinition Definition() {
  stage::StageDefinition def;
  def.stage = protocol::Stage::kSummarization;
  def.default_concurrency = 1;
  def.needs_docstore = true;
  def.configure = [](ConfigReader& env) -> stage::HandlerFactory {
    summarize::SummarizeOptions options;
    options.max_sentences = static_cast<int>(env.Int("SUMMARY_SENTENCES", 0, 0, 100));
    options.max_key_points = static_cast<int>(env.Int("SUMMARY_KEY_POINTS", 6, 0, 50));
    return [options] {
      return [options](const protocol::Command& cmd,
                       stage::StageContext& ctx) -> Result<stage::StageOutput> {
        auto doc = ctx.docs->Get("transcripts", cmd.video_id);
        if (!doc.ok()) return doc.error();
        if (!doc->has_value()) {
          // The transcript is written before the summarization command exists, so this is not
          // something a retry fixes.
          return Error::Permanent("transcript_missing",
                                  "no transcript stored for video " + cmd.video_id);
        }
        auto transcript = asr::TranscriptFromJson(**doc);
        if (!transcript.ok()) return transcript.error();
        std::vector<std::string> sentences;
        for (const auto& s : transcript->segments) sentences.push_back(s.text);
        auto summary = summarize::SummarizeExtractive(sentences, options);
        if (!summary.ok()) return summary.error();
        auto stored = ctx.docs->Upsert("summaries", cmd.video_id, summarize::ToJson(*summary));
        if (!stored.ok()) return stored.error();
        stage::StageOutput out;
        out.event_data = {{"engine", summary->engine},
                          {"key_points", summary->key_points.size()},
                          {"summary_chars", summary->summary.size()}};
        return out;
      };
    };
  };
  return def;
}

}  // namespace chansum::summarization
