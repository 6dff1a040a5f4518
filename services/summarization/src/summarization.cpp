#include "summarization.hpp"

#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "chansum/asr/transcript.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/pg/connection.hpp"
#include "chansum/pg/pool.hpp"
#include "chansum/pg/transaction.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/store/token_usage.hpp"
#include "chansum/summarize/llm.hpp"
#include "chansum/summarize/summarize.hpp"

namespace chansum::summarization {
namespace {

// What the LLM backend needs besides the summarizer: the token budget and where it is kept.
struct LlmBackend {
  std::shared_ptr<summarize::LlmSummarizer> llm;
  std::shared_ptr<pg::ConnectionPool> pool;
  std::int64_t job_token_budget = 0;  // 0 = unlimited
};

Result<std::vector<std::string>> TranscriptSentences(const protocol::Command& cmd,
                                                     stage::StageContext& ctx) {
  auto doc = ctx.docs->Get(protocol::kTranscriptsCollection, cmd.video_id);
  if (!doc.ok()) return doc.error();
  if (!doc->has_value()) {
    // The transcript is written before the summarization command exists, so this is not
    // something a retry fixes.
    return Error::Permanent("transcript_missing", "no transcript stored for video " + cmd.video_id);
  }
  auto transcript = asr::TranscriptFromJson(**doc);
  if (!transcript.ok()) return transcript.error();
  std::vector<std::string> sentences;
  for (const auto& s : transcript->segments) sentences.push_back(s.text);
  return sentences;
}

stage::Handler ExtractiveHandler(const summarize::SummarizeOptions& options) {
  return [options](const protocol::Command& cmd,
                   stage::StageContext& ctx) -> Result<stage::StageOutput> {
    auto sentences = TranscriptSentences(cmd, ctx);
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

stage::Handler LlmHandler(const LlmBackend& backend) {
  return [backend](const protocol::Command& cmd,
                   stage::StageContext& ctx) -> Result<stage::StageOutput> {
    const auto& model = backend.llm->config().model;
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
    auto sentences = TranscriptSentences(cmd, ctx);
    if (!sentences.ok()) return sentences.error();

    auto hooks = TokenBudgetHooks(*backend.pool, cmd.job_id, backend.job_token_budget);
    hooks.should_stop = ctx.should_stop;
    auto result = backend.llm->Summarize(*sentences, ctx.claim.title, hooks);
    // A failed call stores nothing: never the transcript in place of a summary.
    if (!result.ok()) return result.error();
    auto summary = result->summary;
    summary.usage = Usage(result->usage);
    summary.chunks = result->chunks;
    summary.requested_model = model;
    auto stored =
        ctx.docs->Upsert(protocol::kSummariesCollection, cmd.video_id, summarize::ToJson(summary));
    if (!stored.ok()) return stored.error();
    auto recorded = pg::WithTransaction(*backend.pool, [&](pqxx::work& txn) {
      store::RecordVideoTokens(txn, cmd.job_id, cmd.video_id, result->summary.model,
                               result->usage.total_tokens);
    });
    if (!recorded.ok()) return recorded.error();
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

summarize::LlmHooks TokenBudgetHooks(pg::ConnectionPool& pool, const std::string& job_id,
                                     std::int64_t budget) {
  summarize::LlmHooks hooks;
  hooks.before_call = [&pool, job_id, budget](std::int64_t estimate) -> Status {
    if (budget <= 0) return OkStatus();
    auto used = pg::WithTransaction(
        pool, [&](pqxx::work& txn) { return store::JobTokensUsed(txn, job_id); });
    if (!used.ok()) return used.error();
    if (*used + estimate > budget) {
      return Error::Permanent(
          "token_budget_exceeded",
          fmt::format("job token budget exceeded: {} of JOB_TOKEN_BUDGET={} tokens used, the "
                      "next LLM call may need {}",
                      *used, budget, estimate));
    }
    return OkStatus();
  };
  hooks.after_call = [&pool, job_id](const summarize::TokenUsage& call) -> Status {
    auto total = pg::WithTransaction(
        pool, [&](pqxx::work& txn) { return store::AddJobTokens(txn, job_id, call.total_tokens); });
    if (!total.ok()) return total.error();
    return OkStatus();
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
    const std::string backend_name =
        env.Choice("SUMMARY_BACKEND", "extractive", {"extractive", "openai"});
    if (backend_name == "extractive") {
      // Milliseconds of CPU: claimed and recorded in one transaction per batch (no lease).
      self.short_handler = true;
      return [options] { return ExtractiveHandler(options); };
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
    LlmBackend backend;
    backend.job_token_budget = env.Int("JOB_TOKEN_BUDGET", 0, 0, 1'000'000'000'000LL);
    const auto pg_config = pg::PgConfig::FromEnv(env);
    backend.pool = std::make_shared<pg::ConnectionPool>(pg_config, 4);
    spdlog::info("summarization backend openai: {} model {}, chunks of {} tokens, budget {}",
                 config.api_url, config.model, config.chunk_tokens,
                 backend.job_token_budget > 0 ? std::to_string(backend.job_token_budget)
                                              : std::string("unlimited"));
    backend.llm = std::make_shared<summarize::LlmSummarizer>(config, std::move(prompts));
    return [backend] { return LlmHandler(backend); };
  };
  return def;
}

}  // namespace chansum::summarization
