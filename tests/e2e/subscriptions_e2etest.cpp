// Subscriptions end to end (issue 15 §1) on the offline demo channel, through the HTTP API and the
// real services: the first check processes the channel (from `since` on), a check that finds no
// new video starts no job (and records that), and a video added to the feed makes the next check
// process exactly that video. The scheduler ticks every 300 ms and the subscription is due every
// 2 s, so every wait below is bounded in seconds (ASR of one video aside).
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/cli/cli.hpp"
#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class SubscriptionsE2E : public DemoPipelineTest {
 protected:
  SubscriptionsE2E()
      : DemoPipelineTest(
            "chansum-subs-demo",
            {"discovery", "download", "audio_extraction", "transcription", "summarization"}, true) {
    services_.extra_env["orchestrator:SUBSCRIPTION_TICK"] = "300ms";
    services_.extra_env["orchestrator:SUBSCRIPTION_MIN_EVERY"] = "1s";
  }

  json Get(const std::string& path) {
    auto r = services_.Api().Get(path);
    if (!r || r->status != 200) return json();
    return json::parse(r->body);
  }

  // Waits until GET /subscriptions/{id} satisfies `done`; returns the last view.
  json WaitSubscription(const std::string& id, const std::function<bool(const json&)>& done,
                        std::chrono::seconds limit, const std::string& what) {
    json view;
    const bool ok = testing::WaitFor(
        [&] {
          view = Get("/subscriptions/" + id);
          return !view.is_null() && done(view);
        },
        limit, std::chrono::milliseconds(300));
    EXPECT_TRUE(ok) << what << ": " << view.dump(2) << "\n" << services_.Logs();
    return view;
  }

  json WaitJob(const std::string& job_id) {
    json job;
    const bool finished = testing::WaitFor(
        [&] {
          job = Get("/jobs/" + job_id);
          if (job.is_null()) return false;
          const auto state = job.at("state").get<std::string>();
          return state != "queued" && state != "running";
        },
        std::chrono::seconds(480), std::chrono::milliseconds(500));
    EXPECT_TRUE(finished) << "job did not finish: " << job.dump(2) << "\n" << services_.Logs();
    return job;
  }

  // Appends a copy of the item with <guid> `guid` (a captioned video: its link is a watch page) to
  // the served feed, under `new_guid`, a page of its own and a later date (the server reads the
  // file on every request).
  void AddFeedItem(const std::string& guid, const std::string& new_guid) {
    const auto path = demo_.dir / "feed.xml";
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string feed = ss.str();
    const auto at = feed.find("<guid isPermaLink=\"false\">" + guid + "</guid>");
    ASSERT_NE(at, std::string::npos) << feed;
    const auto begin = feed.rfind("<item>", at);
    const auto end = feed.find("</item>", at) + std::string("</item>").size();
    std::string item = feed.substr(begin, end - begin);
    auto replace = [&](const std::string& from, const std::string& to) {
      const auto p = item.find(from);
      ASSERT_NE(p, std::string::npos) << item;
      const auto close = item.find('<', p + from.size());
      item.replace(p, close - p, from + to);
    };
    replace("<guid isPermaLink=\"false\">", new_guid);
    // A page of its own: discovery lists a URL once (media::ParsePlaylist), so an item linking
    // the same page as another would be the same video.
    const auto link = item.find(guid + ".html");
    ASSERT_NE(link, std::string::npos) << "the copied item must link a watch page: " << item;
    item.replace(link, guid.size(), new_guid);
    fs::copy_file(demo_.dir / "watch" / (guid + ".html"),
                  demo_.dir / "watch" / (new_guid + ".html"));
    replace("<pubDate>", "Mon, 02 Sep 2024 09:00:00 +0000");
    replace("<title>", "A New Upload");
    const auto channel_end = feed.rfind("</channel>");
    feed.insert(channel_end, "    " + item + "\n  ");
    const auto tmp = demo_.dir / ".feed.xml.new";
    {
      std::ofstream out(tmp);
      out << feed;
    }
    fs::rename(tmp, path);
  }

  struct CliResult {
    int code = 0;
    std::string out, err;
  };
  // The `chansum` CLI in process, against this run's API.
  CliResult Cli(const std::vector<std::string>& args) const {
    std::ostringstream out, err;
    CliResult r;
    r.code =
        cli::Run(args, {{"CHANSUM_API", "http://127.0.0.1:" + std::to_string(services_.api_port)}},
                 out, err, /*interactive=*/false);
    r.out = out.str();
    r.err = err.str();
    return r;
  }
};

TEST_F(SubscriptionsE2E, FirstCheckProcessesNothingNewStartsNoJobANewVideoIsProcessedAlone) {
  auto api = services_.Api();
  // Follows the channel from 2024-06-01 on: one spoken video (packet-switching, ASR) and one
  // whose media is missing (removed-video, fails) instead of the whole back catalogue.
  // Subscribed with the CLI (`chansum subscribe` prints the id).
  auto sub = Cli({"subscribe", demo_.FeedUrl(), "--every", "2s", "--since", "2024-06-01"});
  ASSERT_EQ(sub.code, 0) << sub.err;
  const auto id = sub.out.substr(0, sub.out.find('\n'));
  ASSERT_EQ(id.size(), 36U) << sub.out;
  const auto body = Get("/subscriptions/" + id);
  ASSERT_FALSE(body.is_null());
  EXPECT_EQ(body.at("every"), "2s");
  EXPECT_EQ(body.at("since"), "2024-06-01T00:00:00Z");
  EXPECT_EQ(body.at("channel"), demo_.FeedUrl());
  // The same channel again: 409 with the existing subscription, nothing created; the CLI exits 3.
  const json request = {{"channel", demo_.FeedUrl()}, {"every", "2s"}};
  auto again = api.Post("/subscriptions", request.dump(), "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409) << again->body;
  EXPECT_EQ(json::parse(again->body).at("error").at("code"), "subscription_exists");
  EXPECT_EQ(again->get_header_value("Location"), "/subscriptions/" + id);
  auto twice = Cli({"subscribe", demo_.FeedUrl(), "--every", "2s"});
  EXPECT_EQ(twice.code, 3) << twice.out << twice.err;
  EXPECT_NE(twice.err.find("already has subscription"), std::string::npos) << twice.err;

  // ------------------------------------------------------------ first check: the channel
  auto view = WaitSubscription(
      id, [](const json& v) { return v.at("jobs").size() == 1; }, std::chrono::seconds(60),
      "the first check started no job");
  ASSERT_EQ(view.at("jobs").size(), 1U);
  const auto first_job_id = view.at("jobs")[0].at("job_id").get<std::string>();
  EXPECT_EQ(view.at("jobs")[0].at("new_videos"), 2);
  const auto first = WaitJob(first_job_id);
  EXPECT_EQ(first.at("state"), "completed_with_errors") << first.dump(2);
  std::map<std::string, std::string> states;
  for (const auto& v : first.at("videos")) states[v.at("source_id")] = v.at("state");
  EXPECT_EQ(states, (std::map<std::string, std::string>{{"packet-switching", "done"},
                                                        {"removed-video", "failed"}}))
      << first.dump(2);

  // ------------------------------------------------------------ nothing new: no job
  view = WaitSubscription(
      id,
      [](const json& v) {
        int quiet = 0;
        for (const auto& c : v.at("recent_checks")) quiet += c.at("state") == "no_new_videos";
        return quiet >= 2;
      },
      std::chrono::seconds(60), "no check recorded no_new_videos");
  EXPECT_EQ(view.at("jobs").size(), 1U) << view.dump(2);
  for (const auto& c : view.at("recent_checks")) {
    if (c.at("state") != "no_new_videos") continue;
    EXPECT_TRUE(c.at("job_id").is_null()) << c.dump();
    EXPECT_EQ(c.at("new_videos"), 0) << c.dump();
  }
  EXPECT_TRUE(view.at("last_error").is_null()) << view.dump(2);
  EXPECT_FALSE(view.at("next_check_at").is_null());
  // The provisional jobs of those checks are gone: GET /jobs lists only the first job.
  const auto jobs = Get("/jobs?limit=100").at("jobs");
  int feed_jobs = 0;
  for (const auto& j : jobs) feed_jobs += j.at("channel") == demo_.FeedUrl();
  EXPECT_LE(feed_jobs, 2) << jobs.dump(2);  // the first job, perhaps one check in flight

  // ------------------------------------------------------------ a new upload
  AddFeedItem("honeybees", "new-upload");
  view = WaitSubscription(
      id, [](const json& v) { return v.at("jobs").size() == 2; }, std::chrono::seconds(60),
      "the new upload started no job");
  ASSERT_EQ(view.at("jobs").size(), 2U);
  EXPECT_EQ(view.at("jobs")[0].at("new_videos"), 1) << view.dump(2);
  const auto second = WaitJob(view.at("jobs")[0].at("job_id").get<std::string>());
  EXPECT_EQ(second.at("state"), "completed") << second.dump(2);
  int processed = 0;
  for (const auto& v : second.at("videos")) {
    const auto source_id = v.at("source_id").get<std::string>();
    if (source_id == "new-upload") {
      EXPECT_EQ(v.at("state"), "done") << v.dump();
      ++processed;
      continue;
    }
    EXPECT_EQ(v.at("state"), "skipped") << v.dump();
    EXPECT_EQ(v.at("skip_reason"), source_id == "removed-video"
                                       ? "failed in an earlier subscription check"
                                       : "already processed")
        << v.dump();
  }
  EXPECT_EQ(processed, 1) << second.dump(2);

  // ------------------------------------------------------------ pause, change, delete
  auto patched =
      api.Patch("/subscriptions/" + id, R"({"paused": true, "every": "1h"})", "application/json");
  ASSERT_TRUE(patched);
  ASSERT_EQ(patched->status, 200) << patched->body;
  EXPECT_EQ(json::parse(patched->body).at("paused"), true);
  EXPECT_EQ(json::parse(patched->body).at("every"), "1h");
  const int checks = Get("/subscriptions/" + id).at("checks");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(Get("/subscriptions/" + id).at("checks"), checks) << "a paused subscription ran";
  auto listed = Cli({"subscriptions"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.out.find(id), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("paused"), std::string::npos) << listed.out;
  auto shown = Cli({"subscriptions", id});
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("jobs started 2"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("no_new_videos, 0 new"), std::string::npos) << shown.out;
  std::cout << "$ chansum subscriptions\n"
            << listed.out << "$ chansum subscriptions " << id << "\n"
            << shown.out;
  auto removed = Cli({"unsubscribe", id});
  ASSERT_EQ(removed.code, 0) << removed.err;
  EXPECT_EQ(removed.out, "subscription " + id + " deleted\n");
  auto gone = api.Get("/subscriptions/" + id);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  EXPECT_EQ(Cli({"unsubscribe", id}).code, 3);
  // The jobs it started stay.
  EXPECT_FALSE(Get("/jobs/" + first_job_id).is_null());
}

}  // namespace
}  // namespace chansum::e2e
