// Contract tests of the OpenAI-compatible client against the local stub (tests/stubs).
#include "chansum/openai/client.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "chansum/stubs/openai_stub.hpp"

namespace chansum::openai {
namespace {

using std::chrono::milliseconds;

nlohmann::json ChatBody() {
  return {{"model", "gpt-test"},
          {"max_tokens", 100},
          {"messages", {{{"role", "user"}, {"content", "<transcript>hello there</transcript>"}}}}};
}

ClientOptions Options(const stubs::OpenAiStub& stub, std::string key = "sk-good") {
  ClientOptions o;
  o.base_url = stub.BaseUrl();
  o.api_key = std::move(key);
  o.retry_base_delay = milliseconds(20);
  o.max_retries = 3;
  o.error_prefix = "llm";
  return o;
}

TEST(RetryAfter, SecondsAndDates) {
  EXPECT_EQ(ParseRetryAfter("3"), milliseconds(3000));
  EXPECT_EQ(ParseRetryAfter(" 0.5"), milliseconds(500));
  EXPECT_FALSE(ParseRetryAfter("").has_value());
  EXPECT_FALSE(ParseRetryAfter("soon").has_value());
  const auto past = ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT");
  ASSERT_TRUE(past.has_value());
  EXPECT_EQ(*past, milliseconds(0));
}

TEST(ErrorForStatus, ClassifiesLikeTheDesignSays) {
  const std::string body =
      R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}})";
  const auto auth = ErrorForStatus(401, body, "llm");
  EXPECT_FALSE(auth.transient());
  EXPECT_EQ(auth.code, "llm_auth");
  EXPECT_NE(auth.message.find("Incorrect API key provided"), std::string::npos);
  EXPECT_NE(auth.message.find("invalid_api_key"), std::string::npos);
  EXPECT_FALSE(ErrorForStatus(400, "{}", "llm").transient());
  EXPECT_TRUE(ErrorForStatus(429, "{}", "llm").transient());
  EXPECT_TRUE(ErrorForStatus(503, "oops", "llm").transient());
  EXPECT_EQ(ErrorForStatus(500, R"({"error":"model not loaded"})", "llm").message,
            "server error, HTTP 500: model not loaded");
}

TEST(Client, RateLimitedThenAnswersAfterRetryAfter) {
  stubs::OpenAiStub stub({.api_key = "sk-good"});
  ASSERT_GT(stub.Start(), 0);
  stub.Script("chat", {{429, 1}, {429, 1}});
  Client client(Options(stub));
  CallStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  auto res = client.PostJson("/chat/completions", ChatBody(), {}, &stats);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ((*res)["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(stats.attempts, 3);
  EXPECT_EQ(stats.rate_limited, 2);
  // Two Retry-After: 1 waits, not the 20 ms base backoff.
  EXPECT_GE(took, std::chrono::milliseconds(1900));
  const auto log = stub.Requests();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0]["status"], 429);
  EXPECT_EQ(log[2]["status"], 200);
  EXPECT_EQ(log[2]["authorization"], "Bearer sk-good");
}

TEST(Client, RetryAfterBeyondTheCapIsATransientErrorAtOnce) {
  stubs::OpenAiStub stub;
  ASSERT_GT(stub.Start(), 0);
  stub.Script("chat", {{429, 120}});
  auto options = Options(stub, "");
  options.max_retry_wait = std::chrono::seconds(5);
  Client client(options);
  auto res = client.PostJson("/chat/completions", ChatBody());
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(res.error().transient());
  EXPECT_EQ(res.error().code, "llm_rate_limited");
  // The server's Retry-After travels with the error: the stage retries no sooner.
  EXPECT_EQ(res.error().retry_after, std::chrono::milliseconds(120000));
  EXPECT_EQ(stub.Requests().size(), 1u);
}

TEST(Client, TheLastRetryAfterTravelsWithTheErrorWhenTheTriesRunOut) {
  stubs::OpenAiStub stub;
  ASSERT_GT(stub.Start(), 0);
  stub.Script("chat", {{429, 1}, {429, 2}});
  auto options = Options(stub, "");
  options.max_retries = 1;
  Client client(options);
  auto res = client.PostJson("/chat/completions", ChatBody());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, "llm_rate_limited");
  EXPECT_EQ(res.error().retry_after, std::chrono::milliseconds(2000)) << res.error().ToString();
  EXPECT_EQ(stub.Requests().size(), 2u);

  stub.Script("chat", {{500}, {500}});
  auto server = client.PostJson("/chat/completions", ChatBody());
  ASSERT_FALSE(server.ok());
  EXPECT_FALSE(server.error().retry_after) << "no Retry-After, no hint";
}

TEST(Client, ServerErrorsAreRetriedThenTransient) {
  stubs::OpenAiStub stub;
  ASSERT_GT(stub.Start(), 0);
  stub.Script("chat", {{500}, {502}});
  Client client(Options(stub));
  CallStats stats;
  auto ok = client.PostJson("/chat/completions", ChatBody(), {}, &stats);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(stats.server_errors, 2);

  stub.Script("chat", {{500}, {500}, {500}, {500}, {500}});
  auto failed = client.PostJson("/chat/completions", ChatBody());
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.error().transient());
  EXPECT_EQ(failed.error().code, "llm_server_error");
  EXPECT_NE(failed.error().message.find("gave up after 4 tries"), std::string::npos);
}

TEST(Client, BadKeyFailsFastAndPermanently) {
  stubs::OpenAiStub stub({.api_key = "sk-good"});
  ASSERT_GT(stub.Start(), 0);
  Client client(Options(stub, "sk-wrong-key-123"));
  auto res = client.PostJson("/chat/completions", ChatBody());
  ASSERT_FALSE(res.ok());
  EXPECT_FALSE(res.error().transient());
  EXPECT_EQ(res.error().code, "llm_auth");
  EXPECT_NE(res.error().message.find("Incorrect API key"), std::string::npos);
  EXPECT_EQ(res.error().message.find("sk-wrong-key-123"), std::string::npos) << "key leaked";
  EXPECT_EQ(stub.Requests().size(), 1u) << "a 401 is not retried";
}

TEST(Client, BadRequestFailsFast) {
  stubs::OpenAiStub stub;
  ASSERT_GT(stub.Start(), 0);
  Client client(Options(stub));
  auto res = client.PostJson("/chat/completions", {{"model", "m"}});
  ASSERT_FALSE(res.ok());
  EXPECT_FALSE(res.error().transient());
  EXPECT_EQ(res.error().code, "llm_bad_request");
  EXPECT_NE(res.error().message.find("messages"), std::string::npos);
  EXPECT_EQ(stub.Requests().size(), 1u);
}

TEST(Client, UnreachableServerIsTransient) {
  ClientOptions o;
  o.base_url = "http://127.0.0.1:1/v1";
  o.max_retries = 1;
  o.retry_base_delay = milliseconds(10);
  o.error_prefix = "asr";
  Client client(o);
  auto res = client.PostJson("/chat/completions", ChatBody());
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(res.error().transient());
  EXPECT_EQ(res.error().code, "asr_unreachable");
}

}  // namespace
}  // namespace chansum::openai
