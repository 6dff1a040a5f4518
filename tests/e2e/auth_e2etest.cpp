// API_TOKEN with the clients that use it: the real orchestrator with a token, the real `chansum`
// binary (--token / CHANSUM_TOKEN, exit code 3 and one line without it), the job event stream
// (GET /jobs/{id}/events) and the dashboard's files, probes and /metrics staying open.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chansum/testing/support.hpp"
#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

class AuthE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* v : {"DATABASE_URL", "AMQP_URL", "MONGO_URI"}) {
      ASSERT_FALSE(testing::RequireEnv(v).empty());
    }
    token_ = "tok-" + testing::RandomSuffix(24);
    services_ = new ServiceSet();
    services_->extra_env = {{"API_TOKEN", token_}};
    // The orchestrator only: jobs stay queued, which is all the calls below need.
    ASSERT_TRUE(services_->Start({}));
  }
  static void TearDownTestSuite() {
    if (services_ != nullptr) {
      services_->Stop();
      std::error_code ec;
      fs::remove_all(services_->dir, ec);
    }
    delete services_;
    services_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure() && services_ != nullptr) std::cerr << services_->Logs();
  }

  // Runs the real `chansum` binary with CHANSUM_API set and `env` ("NAME=value") added.
  static CliResult Cli(const std::vector<std::string>& args,
                       const std::vector<std::string>& env = {}) {
    const fs::path err_file = services_->dir / ("cli-err-" + testing::RandomSuffix() + ".txt");
    std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$@\" 2>\"" + err_file.string() + "\"",
                                     "sh", "env"};
    argv.push_back("CHANSUM_API=http://127.0.0.1:" + std::to_string(services_->api_port));
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(std::string(CHANSUM_BIN_DIR) + "/chansum");
    argv.insert(argv.end(), args.begin(), args.end());
    CliResult r;
    r.code = testing::RunCommand(argv, &r.out);
    std::ifstream in(err_file);
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
    return r;
  }

  // Exit code 3 ("API refused the request") and exactly one line naming the 401.
  static void ExpectRefused(const CliResult& r, const std::string& what) {
    EXPECT_EQ(r.code, 3) << what << "\nstdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_TRUE(r.out.empty()) << what << ": " << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ": " << r.err;
    EXPECT_EQ(r.err.rfind("chansum: unauthorized: ", 0), 0u) << what << ": " << r.err;
    EXPECT_NE(r.err.find("(HTTP 401)"), std::string::npos) << what << ": " << r.err;
    EXPECT_EQ(r.err.find(token_), std::string::npos) << what << ": the token is echoed";
  }

  static inline std::string token_;
  static inline ServiceSet* services_ = nullptr;
};

TEST_F(AuthE2E, CliSendsTheTokenAndReportsA401InOneLine) {
  const std::string channel = "http://127.0.0.1:9/feed.xml";
  ExpectRefused(Cli({"jobs"}), "jobs without a token");
  ExpectRefused(Cli({"submit", channel}), "submit without a token");
  ExpectRefused(Cli({"--token", token_ + "x", "jobs"}), "jobs with a wrong token");
  ExpectRefused(Cli({"jobs"}, {"CHANSUM_TOKEN=not-" + token_}), "a wrong CHANSUM_TOKEN");

  // --token and CHANSUM_TOKEN both work.
  auto submitted = Cli({"--token", token_, "submit", channel, "--max-videos", "2"});
  ASSERT_EQ(submitted.code, 0) << submitted.out << submitted.err;
  const std::string job_id = submitted.out.substr(0, submitted.out.find('\n'));
  ASSERT_EQ(job_id.size(), 36u) << submitted.out;
  auto listed = Cli({"jobs", "--limit", "100"}, {"CHANSUM_TOKEN=" + token_});
  EXPECT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.out.find(job_id), std::string::npos) << listed.out;
  auto shown = Cli({"--token", token_, "show", job_id, "--json"});
  EXPECT_EQ(shown.code, 0) << shown.err;
  EXPECT_EQ(json::parse(shown.out, nullptr, false).value("job_id", ""), job_id) << shown.out;

  ExpectRefused(Cli({"show", job_id}), "show without a token");
  ExpectRefused(Cli({"cancel", job_id}), "cancel without a token");
  ExpectRefused(Cli({"retry", job_id}), "retry without a token");
  ExpectRefused(Cli({"watch", job_id}), "watch (the event stream) without a token");
  ExpectRefused(Cli({"transcript", "someVideo"}), "transcript without a token");

  // Cancel, then follow the event stream to its end: the CLI's exit code for "cancelled" (7).
  auto cancelled = Cli({"--token", token_, "cancel", job_id});
  EXPECT_EQ(cancelled.code, 0) << cancelled.out << cancelled.err;
  auto watched = Cli({"watch", job_id}, {"CHANSUM_TOKEN=" + token_});
  EXPECT_EQ(watched.code, 7) << watched.out << watched.err;
  EXPECT_NE(watched.out.find("cancelled"), std::string::npos) << watched.out;
}

TEST_F(AuthE2E, EventStreamNeedsTheTokenDashboardFilesAndProbesDoNot) {
  auto api = services_->Api();
  const httplib::Headers auth = {{"Authorization", "Bearer " + token_}};
  auto created =
      api.Post("/jobs", auth, R"({"channel": "http://127.0.0.1:9/feed.xml"})", "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 202) << created->body;
  const std::string job_id = json::parse(created->body)["job_id"];
  auto cancel = api.Post("/jobs/" + job_id + "/cancel", auth, "{}", "application/json");
  ASSERT_TRUE(cancel);
  ASSERT_EQ(cancel->status, 202) << cancel->body;

  const std::string events = "/jobs/" + job_id + "/events";
  auto refused = api.Get(events);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401) << refused->body;
  EXPECT_EQ(refused->get_header_value("WWW-Authenticate"), "Bearer realm=\"chansum\"");
  // A cancelled job's stream is its snapshot and the final job event, then the end.
  auto stream = api.Get(events, auth);
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->status, 200) << stream->body;
  EXPECT_EQ(stream->get_header_value("Content-Type").rfind("text/event-stream", 0), 0u);
  EXPECT_NE(stream->body.find("event: snapshot"), std::string::npos) << stream->body;
  EXPECT_NE(stream->body.find("\"cancelled\""), std::string::npos) << stream->body;

  // The dashboard page and its files, the probes and /metrics need no token.
  for (const char* path :
       {"/", "/ui/app.js", "/ui/app.css", "/ui/favicon.svg", "/healthz", "/readyz", "/metrics"}) {
    auto res = api.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path << ": " << res->body.substr(0, 200);
  }
  auto page = api.Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("/ui/app.js"), std::string::npos);
  // ...while everything else stays closed, including unknown paths and the API under /ui's name.
  for (const char* path :
       {"/jobs", "/jobs/" /* list */, "/videos/x/summary", "/dead-letters", "/uix", "/nope"}) {
    auto res = api.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 401) << path;
  }
}

}  // namespace
}  // namespace chansum::e2e
