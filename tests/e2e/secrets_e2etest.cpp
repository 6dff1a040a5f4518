// Secrets never reach the logs: the real services run with a password in DATABASE_URL, a
// RabbitMQ user of their own with a password in AMQP_URL and an API_TOKEN, at debug level, through
// a job that fails and through connection failures; then every log line is searched for them,
// and for the credentials in the job's channel URL (?token=..&key=..: issue 18 §4.6).
// Also: with API_TOKEN set, the real API refuses calls without the bearer token (401).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chansum/testing/rabbitmq.hpp"
#include "chansum/testing/support.hpp"
#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;

// scheme://user[:old]@rest -> scheme://<user>:<password>@rest
std::string WithCredentials(const std::string& url, const std::string& user,
                            const std::string& password) {
  const auto start = url.find("://");
  if (start == std::string::npos) return url;
  const auto host = url.find('@', start + 3);
  const auto rest = host == std::string::npos ? start + 3 : host + 1;
  return url.substr(0, start + 3) + user + ":" + password + "@" + url.substr(rest);
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SecretsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    rabbitmqctl_ = testing::RabbitmqctlCommand();
    ASSERT_FALSE(rabbitmqctl_.empty()) << "CHANSUM_RUN_DIR must name the running local stack";
    const auto suffix = testing::RandomSuffix(12);
    amqp_user_ = "redact-" + suffix;
    amqp_password_ = "amqpPW" + testing::RandomSuffix(16);
    pg_password_ = "pgPW" + testing::RandomSuffix(16);
    token_ = "tok" + testing::RandomSuffix(24);
    feed_token_ = "feedTok" + testing::RandomSuffix(16);
    feed_key_ = "feedKey" + testing::RandomSuffix(16);
    const auto out =
        testing::RunShell(rabbitmqctl_ + " add_user '" + amqp_user_ + "' '" + amqp_password_ +
                          "' 2>&1 && " + rabbitmqctl_ + " set_permissions -p / '" + amqp_user_ +
                          "' '.*' '.*' '.*' 2>&1 && echo CREATED");
    ASSERT_NE(out.find("CREATED"), std::string::npos) << out;
    user_created_ = true;
  }
  void TearDown() override {
    services_.Stop();
    if (user_created_) testing::RunShell(rabbitmqctl_ + " delete_user '" + amqp_user_ + "' 2>&1");
  }

  std::string rabbitmqctl_, amqp_user_, amqp_password_, pg_password_, token_, feed_token_,
      feed_key_;
  bool user_created_ = false;
  ServiceSet services_;
};

TEST_F(SecretsE2E, PasswordsAndTokenNeverAppearInAnyLog) {
  const auto db_url = testing::RequireEnv("DATABASE_URL");
  const auto amqp_url = testing::RequireEnv("AMQP_URL");
  const auto db_with_password = WithCredentials(db_url, "chansum", pg_password_);
  const auto amqp_with_password = WithCredentials(amqp_url, amqp_user_, amqp_password_);
  services_.extra_env = {{"DATABASE_URL", db_with_password},
                         {"AMQP_URL", amqp_with_password},
                         {"API_TOKEN", token_},
                         {"LOG_LEVEL", "debug"},
                         {"MAX_ATTEMPTS", "2"}};
  // Ready means each one connected with these credentials (RabbitMQ checks the password).
  ASSERT_TRUE(services_.Start({"discovery", "analytics", "event_logger"}));

  auto api = services_.Api();
  // A feed URL with credentials in its query: logged (job created, discovery failed) redacted.
  const std::string body = json{
      {"channel", "http://127.0.0.1:9/feed.xml?token=" + feed_token_ + "&key=" + feed_key_},
      {"max_videos", 2}}.dump();
  auto refused = api.Post("/jobs", body, "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401) << refused->body;
  EXPECT_EQ(refused->get_header_value("WWW-Authenticate"), "Bearer realm=\"chansum\"");
  EXPECT_EQ(json::parse(refused->body)["error"]["code"], "unauthorized");
  auto wrong = api.Get("/jobs", {{"Authorization", "Bearer " + token_ + "0"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);

  const httplib::Headers auth = {{"Authorization", "Bearer " + token_}};
  auto created = api.Post("/jobs", auth, body, "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 202) << created->body;
  const std::string job_id = json::parse(created->body)["job_id"];
  // Discovery fails (nothing listens on port 9): a failure path with errors in the logs.
  std::string state;
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto res = api.Get("/jobs/" + job_id, auth);
        if (!res || res->status != 200) return false;
        state = json::parse(res->body).value("state", "");
        return state == "failed";
      },
      std::chrono::seconds(90)))
      << "job state " << state << "\n"
      << services_.Logs();
  auto unauth_job = api.Get("/jobs/" + job_id);
  ASSERT_TRUE(unauth_job);
  EXPECT_EQ(unauth_job->status, 401);

  // Servers that are not there: connection errors are where URLs end up in messages.
  auto dead_db = WithCredentials(db_url, "chansum", pg_password_);
  auto dead_amqp = amqp_with_password;
  const auto db_port = std::to_string(testing::FreePort());
  const auto amqp_port = std::to_string(testing::FreePort());
  dead_db.replace(dead_db.find("@") + 1,
                  dead_db.find('/', dead_db.find("@")) - dead_db.find("@") - 1,
                  "127.0.0.1:" + db_port);
  dead_amqp.replace(dead_amqp.find("@") + 1,
                    dead_amqp.find('/', dead_amqp.find("@")) - dead_amqp.find("@") - 1,
                    "127.0.0.1:" + amqp_port);
  const auto dead_log = services_.dir / "unreachable.log";
  {
    std::map<std::string, std::string> env = {{"DATABASE_URL", dead_db},
                                              {"AMQP_URL", dead_amqp},
                                              {"API_TOKEN", token_},
                                              {"LOG_LEVEL", "debug"},
                                              {"QUEUE_PREFIX", services_.queue_prefix},
                                              {"HTTP_PORT", std::to_string(testing::FreePort())}};
    testing::ChildProcess orchestrator({std::string(CHANSUM_BIN_DIR) + "/chansum-orchestrator"},
                                       env, dead_log);
    EXPECT_TRUE(testing::WaitFor(
        [&] { return ReadFile(dead_log).find("unavailable") != std::string::npos; },
        std::chrono::seconds(30)))
        << ReadFile(dead_log);
    orchestrator.Stop();
  }

  services_.Stop();  // flush every log
  std::size_t files = 0;
  std::size_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(services_.dir)) {
    if (entry.path().extension() != ".log") continue;
    const auto text = ReadFile(entry.path());
    ++files;
    bytes += text.size();
    for (const auto& secret : {amqp_password_, pg_password_, token_, feed_token_, feed_key_}) {
      const auto at = text.find(secret);
      EXPECT_EQ(at, std::string::npos)
          << entry.path().filename() << " contains a secret: ..."
          << text.substr(at == std::string::npos ? 0 : (at > 200 ? at - 200 : 0), 400);
    }
  }
  EXPECT_EQ(files, 5U);  // orchestrator, discovery, analytics, event_logger, unreachable
  EXPECT_GT(bytes, 2000U) << "the logs are suspiciously short";
  // The redacted forms are what the logs show instead (so the search above looked at real lines).
  EXPECT_NE(ReadFile(dead_log).find("PostgreSQL unavailable"), std::string::npos)
      << ReadFile(dead_log);
  const auto orchestrator_log = ReadFile(services_.dir / "orchestrator.log");
  EXPECT_NE(orchestrator_log.find("feed.xml?token=***&key=***"), std::string::npos)
      << orchestrator_log.substr(0, 4000);
}

}  // namespace
}  // namespace chansum::e2e
