#include "summarization.hpp"

#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "chansum/asr/transcript.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/stage/token_budget.hpp"
#include "chansum/summarize/llm.hpp"
#include "chansum/summarize/summarize.hpp"
#include "chansum/text/proper_nouns.hpp"
#include "chansum/text/readable.hpp"

namespace chansum::summarization {
namespace {

Result<std::vector<std::string>> TranscriptSentences(const protocol::Command& cmd,
                                                     stage::StageContext& ctx,
                                                     const text::ReadableOptions& readable) {
  auto doc = ctx.docs->Get(protocol::kTranscriptsCollection, cmd.video_id);
  if (!doc.ok()) return doc.error();
  if (!doc->has_value()) {
    // The transcript is written before the summarization command exists, so this is not
    // something a retry fixes.
    return Error::Permanent("transcript_missing", "no transcript stored for video " + cmd.video_id);
  }
  auto transcript = asr::TranscriptFromJson(**doc);
  if (!transcript.ok()) return transcript.error();
  // Readable sentences (whole, capitalised, numbers as digits), which the summary is made of.
  return summarize::TranscriptSentences(*transcript, readable);
}

stage::Handler ExtractiveHandler(const summarize::SummarizeOptions& options,
                                 const text::ReadableOptions& readable) {
  return [options, readable](const protocol::Command& cmd,
                             stage::StageContext& ctx) -> Result<stage::StageOutput> {
    auto sentences = TranscriptSentences(cmd, ctx, readable);
    if (!sentences.ok()) return sentences.error();
    auto summary = summarize::SummarizeExtractive(*sentences, options);
    if (!summary.ok()) return summary.error();
    auto stored =
        ctx.docs->Upsert(protocol::kSummariesCollection, cmd.video_id, summarize::ToJson(*summary));
    if (!stored.ok()) return stored.error();
    stage::StageOutput out;
    out.event_data = {{"engine", summary->engine},
                      {"key_points", summary->key_points.size()},
                      {"summary_chars", summary->summary.size()}};
    return out;
  };
}

protocol::SummaryUsage Usage(const summarize::TokenUsage& u) {
  return {u.prompt_tokens, u.completion_tokens, u.total_tokens, u.calls};
}

nlohmann::json UsageJson(const protocol::SummaryUsage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.total_tokens},
          {"calls", u.calls}};
}

stage::Handler LlmHandler(const std::shared_ptr<summarize::LlmSummarizer>& llm,
                          const text::ReadableOptions& readable) {
  return [llm, readable](const protocol::Command& cmd,
                         stage::StageContext& ctx) -> Result<stage::StageOutput> {
    const auto& model = llm->config().model;
    // A redelivered command finds the summary this model already wrote and spends no tokens.
    auto existing = ctx.docs->Get(protocol::kSummariesCollection, cmd.video_id);
    if (!existing.ok()) return existing.error();
    if (existing->has_value()) {
      auto doc = summarize::SummaryFromJson(**existing);
      if (doc.ok() && doc->engine == "openai" && doc->usage && doc->requested_model == model) {
        stage::StageOutput out;
        out.event_data = {{"engine", "openai"},
                          {"model", doc->model},
                          {"tokens", UsageJson(*doc->usage)},
                          {"key_points", doc->key_points.size()},
                          {"summary_chars", doc->summary.size()},
                          {"reused", true}};
        return out;
      }
    }
    auto sentences = TranscriptSentences(cmd, ctx, readable);
    if (!sentences.ok()) return sentences.error();

    auto hooks = TokenBudgetHooks(*ctx.tokens, cmd.job_id);
    hooks.should_stop = ctx.should_stop;
    auto result = llm->Summarize(*sentences, ctx.claim.title, hooks);
    // A failed call stores nothing: never the transcript in place of a summary.
    if (!result.ok()) return result.error();
    auto summary = result->summary;
    summary.usage = Usage(result->usage);
    summary.chunks = result->chunks;
    summary.requested_model = model;
    auto stored =
        ctx.docs->Upsert(protocol::kSummariesCollection, cmd.video_id, summarize::ToJson(summary));
    if (!stored.ok()) return stored.error();
    if (Status recorded = ctx.tokens->RecordVideo(cmd.job_id, cmd.video_id, result->summary.model,
                                                  result->usage.total_tokens);
        !recorded.ok()) {
      return recorded.error();
    }
    stage::StageOutput out;
    out.event_data = {{"engine", result->summary.engine},
                      {"model", result->summary.model},
                      {"tokens", UsageJson(*summary.usage)},
                      {"chunks", result->chunks},
                      {"key_points", result->summary.key_points.size()},
                      {"summary_chars", result->summary.summary.size()}};
    return out;
  };
}

}  // namespace

summarize::LlmHooks TokenBudgetHooks(stage::TokenBudget& budget, const std::string& job_id) {
  summarize::LlmHooks hooks;
  hooks.before_call = [&budget, job_id](std::int64_t estimate) {
    return budget.Reserve(job_id, estimate);
  };
  hooks.after_call = [&budget, job_id](const summarize::TokenUsage& call) {
    return budget.Add(job_id, call.total_tokens);
  };
  return hooks;
}

stage::StageDefinition Definition() {
  stage::StageDefinition def;
  def.stage = protocol::Stage::kSummarization;
  def.default_concurrency = 1;
  def.needs_docstore = true;
  def.configure = [](ConfigReader& env, stage::StageDefinition& self) -> stage::HandlerFactory {
    summarize::SummarizeOptions options;
    options.max_sentences = static_cast<int>(env.Int("SUMMARY_SENTENCES", 0, 0, 100));
    options.max_key_points = static_cast<int>(env.Int("SUMMARY_KEY_POINTS", 6, 0, 50));
    options.short_text_words =
        static_cast<std::size_t>(env.Int("SUMMARY_SHORT_TEXT_WORDS", 60, 0, 1000));
    // Readable sentences with proper nouns spelled as names (TEXT_PROPER_NOUNS).
    text::ReadableOptions readable;
    const auto proper_nouns = text::LoadProperNounsSetting(env.OptionalString("TEXT_PROPER_NOUNS"));
    if (!proper_nouns.error.empty()) env.AddProblem(proper_nouns.error);
    if (!proper_nouns.warning.empty()) spdlog::warn("{}", proper_nouns.warning);
    readable.proper_nouns = proper_nouns.nouns;
    const std::string backend_name =
        env.Choice("SUMMARY_BACKEND", "extractive", {"extractive", "openai"});
    if (backend_name == "extractive") {
      // Milliseconds of CPU: claimed and recorded in one transaction per batch (no lease).
      self.short_handler = true;
      return [options, readable] { return ExtractiveHandler(options, readable); };
    }
    auto config = summarize::LlmConfig::FromEnv(env);
    config.max_key_points = options.max_key_points;
    auto prompts = summarize::Prompts::Builtin();
    if (!config.prompts_dir.empty()) {
      auto loaded = summarize::Prompts::Load(config.prompts_dir);
      if (loaded.ok()) {
        prompts = std::move(*loaded);
      } else {
        env.AddProblem("LLM_PROMPTS_DIR: " + loaded.error().message);
      }
    }
    // The runner opens the token budget (JOB_TOKEN_BUDGET) and logs it.
    self.needs_token_budget = true;
    spdlog::info("summarization backend openai: {} model {}, chunks of {} tokens",
                 config.api.base_url, config.model, config.chunk_tokens);
    auto llm = std::make_shared<summarize::LlmSummarizer>(config, std::move(prompts));
    return [llm, readable] { return LlmHandler(llm, readable); };
  };
  return def;
}

}  // namespace chansum::summarization
