#pragma once
#include <cstdint>
#include <string>

#include "chansum/stage/stage.hpp"
#include "chansum/stage/token_budget.hpp"
#include "chansum/summarize/llm.hpp"

namespace chansum::summarization {

// summarization: the transcript becomes a summary and key points, stored as
// summaries/{_id: video_id}. SUMMARY_BACKEND=extractive (default): the embedded TextRank
// summarizer. SUMMARY_BACKEND=openai: an OpenAI-compatible chat-completions API (map-reduce over
// long transcripts), with the tokens of every call counted per job in PostgreSQL against
// JOB_TOKEN_BUDGET and the model and tokens recorded in the summary document, the video row and
// the summarization.completed event.
[[nodiscard]] stage::StageDefinition Definition();

// The LLM hooks of one job on the runner's token budget (StageContext::tokens): before each call,
// a permanent "token_budget_exceeded" error when the job's tokens so far plus the call's estimate
// would pass JOB_TOKEN_BUDGET (0 = unlimited); after each call, its total_tokens added to the
// job's count (job_token_usage).
[[nodiscard]] summarize::LlmHooks TokenBudgetHooks(stage::TokenBudget& budget,
                                                   const std::string& job_id);

}  // namespace chansum::summarization
