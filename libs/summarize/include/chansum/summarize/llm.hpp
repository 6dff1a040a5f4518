#pragma once
// The LLM summarization backend: any OpenAI-compatible POST /v1/chat/completions (OpenAI, Ollama,
// vLLM, a llama.cpp server). Prompts come from template files (prompts/*.md, compiled in; a
// directory given by LLM_PROMPTS_DIR replaces them). A transcript longer than one chunk
// (LLM_CHUNK_TOKENS, estimated as characters / 4) is summarized map-reduce: one call per chunk,
// then one call combining the partial summaries (partials that are still too long together are
// summarized in groups first).
//
// The engine knows no database: the caller passes hooks that check a token budget before each
// call and record what each call used (the summarization stage keeps both in PostgreSQL).
// A failed call is an Error, never a summary: the transcript itself is never returned as one.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/openai/client.hpp"
#include "chansum/summarize/summarize.hpp"

namespace chansum::summarize {

struct LlmConfig {
  // The API's client: LLM_API_URL (required: base URL incl. /v1, e.g.
  // https://api.openai.com/v1), LLM_API_KEY (bearer token; empty = none, Ollama; never logged),
  // LLM_TIMEOUT (one request), LLM_MAX_RETRIES, LLM_MAX_RETRY_WAIT.
  openai::ClientOptions api = [] {
    openai::ClientOptions o;
    o.timeout = std::chrono::minutes(2);
    o.error_prefix = "llm";
    return o;
  }();
  std::string model = "gpt-4o-mini";  // LLM_MODEL
  int max_tokens = 600;               // LLM_MAX_TOKENS: per answer
  int chunk_tokens = 3000;            // LLM_CHUNK_TOKENS
  double temperature = 0.2;           // fixed
  std::filesystem::path prompts_dir;  // LLM_PROMPTS_DIR: empty = the built-in prompts
  int max_key_points = 6;             // SUMMARY_KEY_POINTS (read by the stage)

  // Reads the LLM_* variables (call only when the LLM backend is chosen).
  [[nodiscard]] static LlmConfig FromEnv(ConfigReader& env);
};

struct Prompts {
  std::string system;     // system.md
  std::string summarize;  // summarize.md: a transcript that fits one chunk
  std::string map;        // map.md: one chunk of a longer transcript
  std::string reduce;     // reduce.md: combine the partial summaries

  // The compiled-in copies of prompts/*.md.
  [[nodiscard]] static Prompts Builtin();
  // The four files from `dir`; a missing or empty file is a permanent "prompts_missing" error.
  [[nodiscard]] static Result<Prompts> Load(const std::filesystem::path& dir);
};

// Replaces every {{name}} by its value; unknown placeholders stay as they are.
[[nodiscard]] std::string RenderPrompt(std::string_view tmpl,
                                       const std::map<std::string, std::string>& values);

// A rough token count (characters / 4, rounded up), what chunking and the budget use.
[[nodiscard]] std::int64_t EstimateTokens(std::string_view text);

// Groups sentences, in order, into chunks of at most max_tokens (estimated) joined by spaces; a
// sentence longer than that is cut at word boundaries.
[[nodiscard]] std::vector<std::string> ChunkByTokens(const std::vector<std::string>& sentences,
                                                     std::int64_t max_tokens);

// Splits an answer into summary and key points (see prompts/README.md).
[[nodiscard]] Summary ParseAnswer(std::string_view content, int max_key_points);

struct TokenUsage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
  int calls = 0;

  TokenUsage& operator+=(const TokenUsage& o) {
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    total_tokens += o.total_tokens;
    calls += o.calls;
    return *this;
  }
};

struct LlmHooks {
  // Before each call, with the tokens it may use (prompt estimate + max_tokens): an Error stops
  // the summary (e.g. the job's token budget is spent).
  std::function<Status(std::int64_t estimated_tokens)> before_call;
  // After each successful call, with what the API reported it used.
  std::function<Status(const TokenUsage& call)> after_call;
  std::function<bool()> should_stop;
};

struct LlmSummary {
  Summary summary;   // engine "openai", model = the model the API answered with
  TokenUsage usage;  // all calls of this summary
  int chunks = 0;    // transcript chunks (1 = no map-reduce)
};

class LlmSummarizer {
 public:
  LlmSummarizer(LlmConfig config, Prompts prompts);
  ~LlmSummarizer();
  LlmSummarizer(const LlmSummarizer&) = delete;
  LlmSummarizer& operator=(const LlmSummarizer&) = delete;

  // Errors: "empty_transcript" (permanent); the client's errors (llm_auth, llm_bad_request:
  // permanent; llm_rate_limited, llm_server_error, llm_unreachable: transient); "llm_empty_answer"
  // (transient) and "llm_bad_response" when the answer has no content; the hooks' errors.
  [[nodiscard]] Result<LlmSummary> Summarize(const std::vector<std::string>& sentences,
                                             const std::string& title,
                                             const LlmHooks& hooks = {}) const;

  [[nodiscard]] const LlmConfig& config() const { return config_; }

 private:
  struct Impl;
  LlmConfig config_;
  Prompts prompts_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chansum::summarize
