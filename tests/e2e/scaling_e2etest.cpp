// Horizontal scaling and /metrics, end to end: the demo channel through the real binaries with
// 2 download and 3 transcription instances (concurrency 1 each) on the same queues. Each
// instance's /metrics shows how much of the work it did: the work is split between instances,
// and the counters add up exactly (every delivery consumed once and acked, every video's stage
// handler ran exactly once across all instances, no duplicates); the orchestrator's HTTP counters
// moved by exactly the requests this test made.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/metrics/metrics.hpp"
#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;
using Samples = std::map<std::string, double>;

double Get(const Samples& s, const std::string& series) {
  auto it = s.find(series);
  return it == s.end() ? 0.0 : it->second;
}

std::string Stage(const std::string& metric, const std::string& stage) {
  return metric + "{stage=\"" + stage + "\"}";
}
std::string Outcome(const std::string& stage, const std::string& outcome) {
  return "chansum_stage_outcomes_total{stage=\"" + stage + "\",outcome=\"" + outcome + "\"}";
}

class ScalingE2E : public DemoPipelineTest {
 protected:
  ScalingE2E()
      : DemoPipelineTest("chansum-demo",
                         {"discovery", "download", "download#2", "audio_extraction",
                          "transcription", "transcription#2", "transcription#3", "summarization"},
                         /*kafka=*/true) {
    // One worker thread per instance, so the instances (not threads) share the queue.
    // CAPTIONS=false: every demo video goes through ASR (captioned ones would skip transcription,
    // and this test counts one transcription per done video).
    services_.extra_env = {
        {"DOWNLOAD_CONCURRENCY", "1"}, {"TRANSCRIPTION_CONCURRENCY", "1"}, {"CAPTIONS", "false"}};
  }

  Samples Scrape(const std::string& service) {
    auto r = services_.Client(service).Get("/metrics");
    EXPECT_TRUE(r && r->status == 200) << service;
    if (!r) return {};
    EXPECT_EQ(r->get_header_value("Content-Type"), metrics::kContentType);
    return metrics::ParseText(r->body);
  }
};

TEST_F(ScalingE2E, WorkSplitsAcrossInstancesAndEveryStageRunsOncePerVideo) {
  const std::vector<std::string> downloads = {"download", "download#2"};
  const std::vector<std::string> transcriptions = {"transcription", "transcription#2",
                                                   "transcription#3"};
  std::map<std::string, Samples> before;
  for (const auto& s : downloads) before[s] = Scrape(s);
  for (const auto& s : transcriptions) before[s] = Scrape(s);
  const std::string job_get =
      "chansum_http_requests_total{method=\"GET\",route=\"/jobs/{id}\",status=\"200\"}";
  const std::string job_post =
      "chansum_http_requests_total{method=\"POST\",route=\"/jobs\",status=\"202\"}";
  const Samples api_before = Scrape("orchestrator");

  auto api = services_.Api();
  const json request = {{"channel", demo_.base_url + "/feed.xml"}, {"max_videos", 20}};
  auto created = api.Post("/jobs", request.dump(), "application/json");
  ASSERT_TRUE(created && created->status == 202);
  const auto job_id = json::parse(created->body).at("job_id").get<std::string>();
  int polls = 0;
  json job;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = api.Get("/jobs/" + job_id);
        if (!r || r->status != 200) return false;
        ++polls;
        job = json::parse(r->body);
        const auto state = job.at("state").get<std::string>();
        return state != "queued" && state != "running";
      },
      std::chrono::minutes(10), std::chrono::milliseconds(500)))
      << job.dump(2) << services_.Logs();
  const int done = job.at("counts").at("by_state").at("done").get<int>();
  const int failed = job.at("counts").at("by_state").value("failed", 0);
  ASSERT_GE(done, 4) << job.dump(2);
  const int total = done + failed;

  // Counters are bumped just after the ack / the response: wait until they have settled.
  auto sum = [&](const std::vector<std::string>& instances, const std::string& series,
                 std::map<std::string, Samples>& after) {
    double s = 0;
    for (const auto& i : instances) s += Get(after[i], series) - Get(before[i], series);
    return s;
  };
  std::map<std::string, Samples> after;
  testing::WaitFor(
      [&] {
        for (const auto& s : downloads) after[s] = Scrape(s);
        for (const auto& s : transcriptions) after[s] = Scrape(s);
        return sum(transcriptions, Stage("chansum_stage_messages_acked_total", "transcription"),
                   after) >= done &&
               sum(downloads, Stage("chansum_stage_messages_acked_total", "download"), after) >=
                   total;
      },
      std::chrono::seconds(10));

  // download: every video once to an outcome (done, or failed for the feed's missing entry);
  // each retry is one more delivery. Every delivery consumed was acked; nothing was requeued.
  const double dl_retried =
      sum(downloads, Stage("chansum_stage_messages_retried_total", "download"), after);
  EXPECT_EQ(sum(downloads, Outcome("download", "done"), after), done);
  EXPECT_EQ(sum(downloads, Outcome("download", "failed"), after), failed);
  EXPECT_EQ(sum(downloads, Outcome("download", "duplicate"), after), 0);
  EXPECT_EQ(sum(downloads, Stage("chansum_stage_messages_consumed_total", "download"), after),
            total + dl_retried);
  EXPECT_EQ(sum(downloads, Stage("chansum_stage_messages_acked_total", "download"), after),
            total + dl_retried);
  EXPECT_EQ(sum(downloads, Stage("chansum_stage_messages_requeued_total", "download"), after), 0);
  EXPECT_EQ(
      sum(downloads,
          "chansum_stage_handler_duration_seconds_count{stage=\"download\",result=\"ok\"}", after),
      done);

  // transcription: exactly one handler run per done video across the three instances.
  EXPECT_EQ(sum(transcriptions, Outcome("transcription", "done"), after), done);
  EXPECT_EQ(
      sum(transcriptions, Stage("chansum_stage_messages_consumed_total", "transcription"), after),
      done);
  EXPECT_EQ(
      sum(transcriptions, Stage("chansum_stage_messages_acked_total", "transcription"), after),
      done);
  EXPECT_EQ(sum(transcriptions,
                "chansum_stage_handler_duration_seconds_count{stage=\"transcription\",result="
                "\"ok\"}",
                after),
            done);
  EXPECT_EQ(sum(transcriptions, Outcome("transcription", "duplicate"), after), 0);

  // The split: more than one instance of each stage did some of the work.
  int downloads_working = 0, transcriptions_working = 0;
  std::ostringstream split;
  for (const auto& i : downloads) {
    const double n = sum({i}, Stage("chansum_stage_messages_acked_total", "download"), after);
    downloads_working += n > 0;
    split << i << ": " << n << " ";
  }
  for (const auto& i : transcriptions) {
    const double n = sum({i}, Stage("chansum_stage_messages_acked_total", "transcription"), after);
    transcriptions_working += n > 0;
    split << i << ": " << n << " ";
  }
  std::cout << "work split (acked per instance): " << split.str() << "\n";
  EXPECT_EQ(downloads_working, 2) << split.str();
  EXPECT_GE(transcriptions_working, 2) << split.str();

  // In-flight work is back to zero, and the outbox backlog is reported.
  for (const auto& i : transcriptions) {
    EXPECT_EQ(Get(after[i], Stage("chansum_stage_in_flight", "transcription")), 0) << i;
  }

  // Each done video has exactly one finished transcription in the job's per-video record.
  for (const auto& v : job.at("videos")) {
    if (v.at("state") != "done") continue;
    const auto tr = api.Get("/videos/" + v.at("video_id").get<std::string>() + "/transcript");
    EXPECT_TRUE(tr && tr->status == 200) << v.dump();
  }

  // The orchestrator counted exactly this test's requests: 1 POST, `polls` GETs answered 200.
  Samples api_after;
  testing::WaitFor(
      [&] {
        api_after = Scrape("orchestrator");
        return Get(api_after, job_get) - Get(api_before, job_get) >= polls;
      },
      std::chrono::seconds(5));
  EXPECT_EQ(Get(api_after, job_post) - Get(api_before, job_post), 1);
  EXPECT_EQ(Get(api_after, job_get) - Get(api_before, job_get), polls);
  EXPECT_GE(Get(api_after, "chansum_outbox_backlog_scrape_ok"), 1);
  EXPECT_TRUE(api_after.count("chansum_outbox_pending_messages{destination=\"amqp\"}"));
}

}  // namespace
}  // namespace chansum::e2e
