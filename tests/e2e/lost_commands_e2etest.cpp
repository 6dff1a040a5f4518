// A lost command does not leave a job stuck (issue 18 §3.2), with the real orchestrator and the
// real stage runner (instant handlers) on the local stack: the download stage is down while a job
// is discovered, its commands sit in the download queue, the queue is purged (every command lost),
// the stage comes back — and the job still ends, because the orchestrator's watchdog re-enqueues
// the videos that wait without progress (STUCK_AFTER) through the outbox.
#include <chrono>
#include <cstdint>
#include <string>

#include <amqp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/amqp/config.hpp"
#include "chansum/amqp/connection.hpp"
#include "chansum/instant/instant.hpp"
#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Messages ready in `queue` (passive declare), or -1 when it cannot be read.
std::int64_t Ready(amqp::Connection& conn, const std::string& queue) {
  auto* ok =
      amqp_queue_declare(conn.raw(), amqp::Connection::kChannel, amqp_cstring_bytes(queue.c_str()),
                         /*passive=*/1, 0, 0, 0, amqp_empty_table);
  if (!conn.CheckReply(amqp_get_rpc_reply(conn.raw()), "queue.declare passive").ok() || !ok) {
    return -1;
  }
  return ok->message_count;
}

// Purges `queue`; the number of messages dropped, or -1.
std::int64_t Purge(amqp::Connection& conn, const std::string& queue) {
  auto* ok =
      amqp_queue_purge(conn.raw(), amqp::Connection::kChannel, amqp_cstring_bytes(queue.c_str()));
  if (!conn.CheckReply(amqp_get_rpc_reply(conn.raw()), "queue.purge").ok() || !ok) return -1;
  return ok->message_count;
}

class LostCommandsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto amqp_url = amqp::ParseAmqpUrl(testing::RequireEnv("AMQP_URL"));
    ASSERT_TRUE(amqp_url.ok()) << amqp_url.error().message;
    amqp_config_ = *amqp_url;
    const std::string instant = std::string(CHANSUM_BIN_DIR) + "/chansum_instant_stage";
    for (const char* s :
         {"discovery", "download", "audio_extraction", "transcription", "summarization"}) {
      services_.commands[s] = {instant, s};
    }
    // A short deadline so the test runs in seconds; the default is 30 min.
    services_.extra_env["STUCK_AFTER"] = "5s";
    services_.extra_env["SWEEP_INTERVAL"] = "500ms";
    ASSERT_TRUE(services_.Start(
        {"discovery", "download", "audio_extraction", "transcription", "summarization"}));
  }
  void TearDown() override {
    services_.Stop();
    std::error_code ec;
    if (HasFailure()) {
      std::cerr << "service logs kept in " << services_.dir << "\n";
    } else {
      fs::remove_all(services_.dir, ec);
    }
  }

  json Job(const std::string& id) {
    auto r = services_.Api().Get("/jobs/" + id);
    return r && r->status == 200 ? json::parse(r->body) : json::object();
  }

  amqp::AmqpConfig amqp_config_;
  ServiceSet services_;
};

TEST_F(LostCommandsE2E, PurgedDownloadCommandsAreReenqueuedAndTheJobEnds) {
  constexpr int kVideos = 4;
  services_.Kill("download");  // nobody consumes the download queue for now

  auto api = services_.Api();
  const json request = {{"channel", instant::InstantChannelUrl(kVideos)}};
  auto created = api.Post("/jobs", request.dump(), "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 202) << created->body;
  const auto job_id = json::parse(created->body).at("job_id").get<std::string>();

  // Discovered: every video pending at download, its command published to the download queue.
  auto conn = amqp::Connection::Open(amqp_config_, "lost-commands-e2e");
  ASSERT_TRUE(conn.ok()) << conn.error().message;
  const std::string queue = services_.queue_prefix + "download";
  json job;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        job = Job(job_id);
        return job.value("video_count", json()) == kVideos && Ready(**conn, queue) >= kVideos;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(200)))
      << "not discovered: " << job.dump(2) << "\n"
      << services_.Logs();
  for (const auto& v : job.at("videos")) {
    EXPECT_EQ(v.at("stage"), "download");
    EXPECT_EQ(v.at("state"), "pending");
  }

  // Every command is lost (a copy the watchdog may have written meanwhile too); then the stage
  // comes back to an empty queue.
  ASSERT_GE(Purge(**conn, queue), kVideos);
  EXPECT_EQ(Ready(**conn, queue), 0);
  services_.Respawn("download");
  ASSERT_TRUE(services_.WaitReady("download", std::chrono::seconds(60))) << services_.Logs();

  const bool ended = testing::WaitFor(
      [&] {
        job = Job(job_id);
        const auto state = job.value("state", std::string());
        return !state.empty() && state != "queued" && state != "running";
      },
      std::chrono::seconds(120), std::chrono::milliseconds(500));
  ASSERT_TRUE(ended) << "the job is stuck: " << job.dump(2) << "\n" << services_.Logs();
  EXPECT_EQ(job.at("state"), "completed") << job.dump(2);
  for (const auto& v : job.at("videos")) {
    EXPECT_EQ(v.at("state"), "done") << v.dump();
    EXPECT_EQ(v.at("stage"), "summarization") << v.dump();
  }
  const auto logs = services_.Logs();
  EXPECT_NE(logs.find("watchdog: re-enqueued download of video"), std::string::npos) << logs;
}

}  // namespace
}  // namespace chansum::e2e
