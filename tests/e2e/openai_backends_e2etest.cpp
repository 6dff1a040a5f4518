// End to end with the HTTP backends: the demo channel through all five real stages, with
// transcription (ASR_ENGINE=openai) and summarization (SUMMARY_BACKEND=openai) talking to the local
// OpenAI-compatible stub (tests/stubs) — including a 500 and a 429 they must ride out. Every real
// video ends done with a stub transcript (chunked: ASR_CHUNK_SECONDS is below the videos' length)
// and a stub summary whose model and tokens are recorded in the summary document, the video row
// and the job's token count in PostgreSQL.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;

class OpenAiBackendsE2E : public DemoPipelineTest {
 protected:
  OpenAiBackendsE2E()
      : DemoPipelineTest(
            "chansum-demo",
            {"discovery", "download", "audio_extraction", "transcription", "summarization"},
            /*kafka=*/false) {}

  // The stub, scripted, and the variables that point the services at it.
  void BeforeServices() override {
    stub_port_ = testing::FreePort();
    stub_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{std::string(CHANSUM_BIN_DIR) + "/chansum_openai_stub", "--port",
                                 std::to_string(stub_port_), "--api-key", "sk-e2e"},
        std::map<std::string, std::string>{}, demo_.dir / "stub.log");
    httplib::Client stub("127.0.0.1", stub_port_);
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          auto s = stub.Get("/stub/requests");
          return s && s->status == 200;
        },
        std::chrono::seconds(10)))
        << stub_->LogTail();
    // One server error for transcription, one rate limit for summarization.
    auto scripted =
        stub.Post("/stub/script",
                  R"({"transcriptions":[{"status":500}],"chat":[{"status":429,"retry_after":1}]})",
                  "application/json");
    ASSERT_TRUE(scripted && scripted->status == 200);
    const std::string api = "http://127.0.0.1:" + std::to_string(stub_port_) + "/v1";
    // CAPTIONS=false: the captioned demo videos would otherwise skip ASR (captions first).
    for (const auto& [k, v] : std::map<std::string, std::string>{{"CAPTIONS", "false"},
                                                                 {"ASR_ENGINE", "openai"},
                                                                 {"ASR_API_URL", api},
                                                                 {"ASR_API_KEY", "sk-e2e"},
                                                                 {"ASR_MODEL", "whisper-e2e"},
                                                                 {"ASR_CHUNK_SECONDS", "10"},
                                                                 {"SUMMARY_BACKEND", "openai"},
                                                                 {"LLM_API_URL", api},
                                                                 {"LLM_API_KEY", "sk-e2e"},
                                                                 {"LLM_MODEL", "llm-e2e"},
                                                                 {"JOB_TOKEN_BUDGET", "1000000"}}) {
      ::setenv(k.c_str(), v.c_str(), 1);
    }
  }
  void TearDown() override {
    DemoPipelineTest::TearDown();
    stub_.reset();
  }

  json StubRequests() {
    httplib::Client stub("127.0.0.1", stub_port_);
    auto r = stub.Get("/stub/requests");
    return r && r->status == 200 ? json::parse(r->body) : json::array();
  }

  int stub_port_ = 0;
  std::unique_ptr<testing::ChildProcess> stub_;
};

TEST_F(OpenAiBackendsE2E, DemoChannelIsTranscribedAndSummarizedThroughTheStub) {
  auto api = services_.Api();
  const json request = {{"channel", demo_.base_url + "/feed.xml"}, {"max_videos", 20}};
  auto created = api.Post("/jobs", request.dump(), "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 202) << created->body;
  const auto job_id = json::parse(created->body).at("job_id").get<std::string>();

  json job;
  const bool finished =
      e2e::WaitJobEnded(api, job_id, std::chrono::minutes(6), std::chrono::milliseconds(500), &job);
  ASSERT_TRUE(finished) << "job did not finish: " << job.dump(2) << "\n" << services_.Logs();
  EXPECT_EQ(job.at("state"), "completed_with_errors") << job.dump(2);
  const int done = job.at("counts").at("by_state").at("done").get<int>();
  ASSERT_GE(done, 2) << job.dump(2);
  EXPECT_EQ(job.at("counts").at("by_state").at("failed"), 1) << "only the feed's missing entry";

  std::int64_t summary_tokens = 0;
  int chunked_videos = 0;  // longer than ASR_CHUNK_SECONDS: uploaded in two or more chunks
  for (const auto& v : job.at("videos")) {
    if (v.at("state") != "done") continue;
    const auto vid = v.at("video_id").get<std::string>();
    auto tr = api.Get("/videos/" + vid + "/transcript");
    ASSERT_TRUE(tr && tr->status == 200);
    const auto transcript = json::parse(tr->body);
    EXPECT_EQ(transcript.at("engine"), "openai/whisper-e2e");
    if (transcript.at("audio_seconds").get<double>() > 10.5) ++chunked_videos;
    ASSERT_FALSE(transcript.at("segments").empty());
    double last_start = -1;
    for (const auto& seg : transcript.at("segments")) {
      EXPECT_EQ(seg.at("text").get<std::string>().rfind("level ", 0), 0u) << seg.dump();
      EXPECT_GE(seg.at("start").get<double>(), last_start) << "segments out of order";
      EXPECT_LE(seg.at("end").get<double>(), transcript.at("audio_seconds").get<double>() + 0.01);
      last_start = seg.at("start").get<double>();
    }

    auto sr = api.Get("/videos/" + vid + "/summary");
    ASSERT_TRUE(sr && sr->status == 200);
    const auto summary = json::parse(sr->body);
    EXPECT_EQ(summary.at("engine"), "openai");
    EXPECT_EQ(summary.at("model"), "llm-e2e");
    EXPECT_EQ(summary.at("summary").get<std::string>().rfind("Summary of", 0), 0u)
        << summary.dump() << " is not the model's answer";
    EXPECT_NE(summary.at("summary"), transcript.at("text"));
    ASSERT_TRUE(summary.contains("usage")) << summary.dump();
    const auto tokens = summary.at("usage").at("total_tokens").get<std::int64_t>();
    EXPECT_GT(tokens, 0);
    summary_tokens += tokens;
  }

  // The stub saw chunked uploads (more than one per video) and one chat call per video plus the
  // rate-limited one; the transcription that hit the 500 was retried.
  const auto log = StubRequests();
  int uploads = 0;
  int chats = 0;
  int errors = 0;
  for (const auto& r : log) {
    if (r.at("status") != 200) ++errors;
    if (r.at("endpoint") == "transcriptions" && r.at("status") == 200) {
      ++uploads;
      EXPECT_LE(r.at("file_bytes").get<long>(), 10 * 32000 + 44);
      EXPECT_EQ(r.at("model"), "whisper-e2e");
    }
    if (r.at("endpoint") == "chat" && r.at("status") == 200) ++chats;
    EXPECT_EQ(r.at("authorization"), "Bearer sk-e2e");
  }
  ASSERT_GE(chunked_videos, 1) << "no demo video is longer than ASR_CHUNK_SECONDS";
  EXPECT_GE(uploads, done + chunked_videos);
  EXPECT_EQ(chats, done);
  EXPECT_EQ(errors, 2);

  // Tokens in PostgreSQL: the job's count is every call's total, the rows carry model and tokens.
  pqxx::connection conn(testing::RequireEnv("DATABASE_URL"));
  pqxx::work txn(conn);
  const auto usage =
      txn.exec_params("SELECT tokens, calls FROM job_token_usage WHERE job_id = $1::uuid", job_id);
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0][0].as<std::int64_t>(), summary_tokens);
  EXPECT_EQ(usage[0][1].as<int>(), done);
  const auto rows = txn.exec_params(
      "SELECT count(*) FROM videos WHERE job_id = $1::uuid AND state = 'done' AND "
      "llm_model = 'llm-e2e' AND llm_tokens > 0",
      job_id);
  EXPECT_EQ(rows[0][0].as<int>(), done);
}

}  // namespace
}  // namespace chansum::e2e
