// The LLM summarization backend against the local OpenAI-compatible stub: prompts, map-reduce,
// rate limiting, server errors, bad credentials, token hooks.
#include "chansum/summarize/llm.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "chansum/stubs/openai_stub.hpp"

namespace chansum::summarize {
namespace {

LlmConfig Config(const stubs::OpenAiStub& stub, std::string key = "sk-test") {
  LlmConfig c;
  c.api.base_url = stub.BaseUrl();
  c.api.api_key = std::move(key);
  c.model = "stub-model";
  c.max_tokens = 200;
  c.chunk_tokens = 1000;
  c.api.max_retries = 3;
  c.api.retry_base_delay = std::chrono::milliseconds(10);
  c.max_key_points = 3;
  return c;
}

// n distinct sentences of about 80 characters.
std::vector<std::string> Sentences(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back("Sentence number " + std::to_string(i) +
                  " explains the printing press and how literacy spread across Europe.");
  }
  return out;
}

TEST(Prompts, RenderReplacesKnownPlaceholdersOnly) {
  EXPECT_EQ(RenderPrompt("a {{x}} b {{ y }} {{z}}", {{"x", "1"}, {"y", "2"}}), "a 1 b 2 {{z}}");
}

TEST(Prompts, BuiltinCopiesOfTheRepositoryFiles) {
  const auto p = Prompts::Builtin();
  EXPECT_NE(p.summarize.find("{{transcript}}"), std::string::npos);
  EXPECT_NE(p.reduce.find("{{summaries}}"), std::string::npos);
  EXPECT_NE(p.map.find("{{part}}"), std::string::npos);
  EXPECT_FALSE(p.system.empty());
}

TEST(Prompts, LoadFromDirectoryReportsMissingFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "chansum_prompts_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "system.md") << "sys";
  auto missing = Prompts::Load(dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "prompts_missing");
  EXPECT_NE(missing.error().message.find("reduce.md"), std::string::npos);
  std::ofstream(dir / "summarize.md") << "S {{transcript}}";
  std::ofstream(dir / "map.md") << "M";
  std::ofstream(dir / "reduce.md") << "R";
  auto ok = Prompts::Load(dir);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->summarize, "S {{transcript}}");
  std::filesystem::remove_all(dir);
}

TEST(ParseAnswer, SummaryAndKeyPoints) {
  auto s = ParseAnswer(
      "The video explains X.\nIt ends with Y.\n\n**Key points:**\n- one\n* two\n"
      "3. three\n- four\n",
      3);
  EXPECT_EQ(s.summary, "The video explains X. It ends with Y.");
  EXPECT_EQ(s.key_points, (std::vector<std::string>{"one", "two", "three"}));
  auto plain = ParseAnswer("Just a paragraph.", 5);
  EXPECT_EQ(plain.summary, "Just a paragraph.");
  EXPECT_TRUE(plain.key_points.empty());
}

TEST(Chunking, ChunksStayWithinTheTokenBound) {
  auto chunks = ChunkByTokens(Sentences(100), 500);
  ASSERT_GT(chunks.size(), 3u);
  std::size_t chars = 0;
  for (const auto& c : chunks) {
    EXPECT_LE(EstimateTokens(c), 500);
    chars += c.size() + 1;
  }
  // Nothing dropped: all sentences are in there, in order.
  EXPECT_EQ(chunks.front().rfind("Sentence number 0 ", 0), 0u);
  EXPECT_NE(chunks.back().find("Sentence number 99 "), std::string::npos);
  // One huge sentence is cut at words.
  auto cut = ChunkByTokens({std::string(3000, 'a') + " " + std::string(10, 'b')}, 100);
  EXPECT_EQ(cut.size(), 2u);
}

TEST(LlmSummarizer, ShortTranscriptIsOneCall) {
  stubs::OpenAiStub stub({.api_key = "sk-test"});
  ASSERT_GT(stub.Start(), 0);
  LlmSummarizer llm(Config(stub), Prompts::Builtin());
  auto res = llm.Summarize(Sentences(3), "Printing");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ(res->chunks, 1);
  EXPECT_EQ(res->usage.calls, 1);
  EXPECT_GT(res->usage.prompt_tokens, 0);
  EXPECT_EQ(res->usage.total_tokens, res->usage.prompt_tokens + res->usage.completion_tokens);
  EXPECT_EQ(res->summary.engine, "openai");
  EXPECT_EQ(res->summary.model, "stub-model");
  EXPECT_EQ(res->summary.summary.rfind("Summary of 39 words: Sentence number 0", 0), 0u)
      << res->summary.summary;
  EXPECT_EQ(res->summary.key_points.size(), 3u);
  const auto log = stub.Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["model"], "stub-model");
  EXPECT_EQ(log[0]["max_tokens"], 200);
}

TEST(LlmSummarizer, LongTranscriptIsMapReducedWithinTheContext) {
  stubs::OpenAiStub stub({.api_key = "", .context_tokens = 1400});
  ASSERT_GT(stub.Start(), 0);
  const auto sentences = Sentences(250);  // ~20,000 characters, ~5,000 tokens

  // Sent whole, the model refuses it (this is what map-reduce is for).
  auto whole_config = Config(stub, "");
  whole_config.chunk_tokens = 100000;
  auto whole = LlmSummarizer(whole_config, Prompts::Builtin()).Summarize(sentences, "Long");
  ASSERT_FALSE(whole.ok());
  EXPECT_FALSE(whole.error().transient());
  EXPECT_NE(whole.error().message.find("context_length_exceeded"), std::string::npos);
  stub.ClearRequests();

  LlmSummarizer llm(Config(stub, ""), Prompts::Builtin());
  auto res = llm.Summarize(sentences, "Long");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_GE(res->chunks, 5);
  EXPECT_EQ(res->usage.calls, res->chunks + 1);  // map each chunk, one reduce
  const auto log = stub.Requests();
  ASSERT_EQ(static_cast<int>(log.size()), res->usage.calls);
  std::int64_t prompt_tokens = 0;
  for (const auto& r : log) {
    EXPECT_EQ(r["status"], 200);
    EXPECT_LE(r["prompt_tokens"].get<int>(), 1400);
    prompt_tokens += r["prompt_tokens"].get<std::int64_t>();
  }
  EXPECT_EQ(prompt_tokens, res->usage.prompt_tokens);
  // The final answer summarizes the partial summaries ("Part 1: Summary of ..."), not the text.
  EXPECT_EQ(res->summary.summary.rfind("Summary of", 0), 0u);
  EXPECT_NE(res->summary.summary.find("Part 1: Summary of"), std::string::npos)
      << res->summary.summary;
}

TEST(LlmSummarizer, RateLimitIsWaitedOut) {
  stubs::OpenAiStub stub;
  ASSERT_GT(stub.Start(), 0);
  stub.Script("chat", {{429, 1}});
  LlmSummarizer llm(Config(stub), Prompts::Builtin());
  auto res = llm.Summarize(Sentences(2), "t");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ(stub.Requests().size(), 2u);
}

TEST(LlmSummarizer, ServerErrorsExhaustedAreTransientAndNoSummary) {
  stubs::OpenAiStub stub;
  ASSERT_GT(stub.Start(), 0);
  stub.Script("chat", {{500}, {503}, {500}, {500}});
  LlmSummarizer llm(Config(stub), Prompts::Builtin());
  auto res = llm.Summarize(Sentences(2), "t");
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(res.error().transient());
  EXPECT_EQ(res.error().code, "llm_server_error");
}

TEST(LlmSummarizer, BadKeyIsPermanentWithAClearMessage) {
  stubs::OpenAiStub stub({.api_key = "sk-right"});
  ASSERT_GT(stub.Start(), 0);
  LlmSummarizer llm(Config(stub, "sk-wrong"), Prompts::Builtin());
  auto res = llm.Summarize(Sentences(2), "t");
  ASSERT_FALSE(res.ok());
  EXPECT_FALSE(res.error().transient());
  EXPECT_EQ(res.error().code, "llm_auth");
  EXPECT_NE(res.error().message.find("API key"), std::string::npos);
  EXPECT_EQ(stub.Requests().size(), 1u);
}

TEST(LlmSummarizer, HooksSeeEveryCallAndCanStopIt) {
  stubs::OpenAiStub stub;
  ASSERT_GT(stub.Start(), 0);
  LlmSummarizer llm(Config(stub), Prompts::Builtin());
  std::int64_t recorded = 0;
  int allowed = 2;
  LlmHooks hooks;
  hooks.before_call = [&](std::int64_t estimate) -> Status {
    EXPECT_GT(estimate, 200);  // includes max_tokens
    if (allowed-- <= 0) return Error::Permanent("token_budget_exceeded", "budget spent");
    return OkStatus();
  };
  hooks.after_call = [&](const TokenUsage& u) -> Status {
    recorded += u.total_tokens;
    return OkStatus();
  };
  auto res = llm.Summarize(Sentences(250), "Long", hooks);  // needs > 2 calls
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, "token_budget_exceeded");
  EXPECT_EQ(stub.Requests().size(), 2u);
  EXPECT_GT(recorded, 0);
}

}  // namespace
}  // namespace chansum::summarize
