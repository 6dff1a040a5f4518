// Subscriptions end to end (issue 15 §1) on the offline demo channel, through the HTTP API and the
// real services: the first check processes the channel (from `since` on), a check that finds no
// new video starts no job (and records that), and a video added to the feed makes the next check
// process exactly that video. The scheduler ticks every 300 ms and the subscription is due every
// 2 s, so every wait below is bounded in seconds (ASR of one video aside).
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/cli/cli.hpp"
#include "chansum/kafka/consumer.hpp"
#include "chansum/protocol/events.hpp"
#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class SubscriptionsE2E : public DemoPipelineTest {
 protected:
  SubscriptionsE2E()
      : DemoPipelineTest("chansum-subs-demo",
                         {"discovery", "download", "audio_extraction", "transcription",
                          "summarization", "analytics", "event_logger"},
                         true) {
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
  void AddFeedItem(const std::string& guid, const std::string& new_guid,
                   const std::string& pub_date = "Mon, 02 Sep 2024 09:00:00 +0000") {
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
    replace("<pubDate>", pub_date);
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

  // The subscription.checked events of subscription `id` (paused, so its checks have ended): one
  // per check (read from Kafka by a fresh consumer group), keyed by the subscription, each with
  // the outcome and new-video count its check recorded (as GET /subscriptions/{id} shows the
  // recent ones); the same event ids in the audit log (the RabbitMQ fanout); and analytics'
  // per-subscription counts agree.
  void CheckSubscriptionEvents(const std::string& id, const json& view) {
    std::map<std::string, json> recent;  // check id -> the check as GET /subscriptions shows it
    for (const auto& c : view.at("recent_checks")) {
      ASSERT_NE(c.at("state"), "running") << "a paused subscription's check still runs";
      recent[c.at("check_id").get<std::string>()] = c;
    }
    const auto total = view.at("checks").get<std::size_t>();
    ASSERT_GE(total, 4U) << view.dump(2);
    kafka::KafkaConfig kafka_config;
    kafka_config.brokers = testing::RequireEnv("KAFKA_BROKERS");
    kafka_config.client_id = "e2e-subs";
    auto consumer =
        kafka::Consumer::Create(kafka_config, {"e2e-subs-" + testing::RandomSuffix(), "earliest"});
    ASSERT_TRUE(consumer.ok()) << consumer.error().ToString();
    ASSERT_TRUE((*consumer)
                    ->Subscribe({protocol::EventTopic(services_.queue_prefix,
                                                      protocol::EventType::kSubscriptionChecked)})
                    .ok());
    std::map<std::string, json> events;  // check id -> event
    std::set<std::string> event_ids;
    std::map<std::string, int> by_outcome;
    int new_videos = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (events.size() < total && std::chrono::steady_clock::now() < deadline) {
      auto record = (*consumer)->Poll(std::chrono::milliseconds(500));
      if (!record.ok() || !record->has_value()) continue;
      auto parsed = protocol::ParseEvent((*record)->payload);
      ASSERT_TRUE(parsed.ok()) << parsed.error().ToString() << ": " << (*record)->payload;
      auto facts = protocol::SubscriptionChecked(*parsed);
      ASSERT_TRUE(facts.has_value()) << (*record)->payload;
      EXPECT_EQ(facts->subscription_id, id);
      EXPECT_EQ((*record)->key, id) << "subscription.checked is keyed by its subscription";
      EXPECT_TRUE(events.emplace(facts->check_id, ToJson(*parsed)).second)
          << "two events for check " << facts->check_id;
      event_ids.insert(parsed->event_id);
      if (facts->outcome == "new_videos") {
        EXPECT_EQ(parsed->job_id, facts->started_job_id);
      } else {
        EXPECT_EQ(facts->started_job_id, "") << (*record)->payload;
      }
      if (auto it = recent.find(facts->check_id); it != recent.end()) {
        const auto& check = it->second;
        const std::string state = check.at("state");
        EXPECT_EQ(facts->outcome, state == "job_started" ? "new_videos" : state) << check.dump();
        EXPECT_EQ(facts->new_videos, check.at("new_videos").get<int>()) << check.dump();
        if (state == "job_started") {
          EXPECT_EQ(facts->started_job_id, check.at("job_id"));
        }
      }
      ++by_outcome[facts->outcome];
      new_videos += static_cast<int>(facts->new_videos);
    }
    ASSERT_EQ(events.size(), total) << "subscription.checked missing on Kafka";
    for (const auto& [check_id, check] : recent) {
      EXPECT_TRUE(events.contains(check_id)) << "no event for check " << check.dump();
    }
    EXPECT_EQ(by_outcome["new_videos"], 2);
    EXPECT_GE(by_outcome["no_new_videos"], 2);
    EXPECT_EQ(new_videos, 3);  // 2 at the first check, then the new upload

    // The fanout: the event logger's audit log has every one of them.
    std::set<std::string> audited;
    testing::WaitFor(
        [&] {
          audited.clear();
          std::ifstream in(services_.AuditLogDir() / "events.jsonl");
          for (std::string line; std::getline(in, line);) {
            if (line.empty()) continue;
            const auto e = json::parse(line);
            if (e.at("type") == "subscription.checked" && event_ids.contains(e.at("event_id"))) {
              audited.insert(e.at("event_id").get<std::string>());
            }
          }
          return audited == event_ids;
        },
        std::chrono::seconds(30));
    EXPECT_EQ(audited, event_ids) << "the audit log misses subscription.checked events";

    // Analytics counts them per outcome, with the sum of new videos.
    auto analytics = services_.Client("analytics");
    json figures;
    const bool counted = testing::WaitFor(
        [&] {
          auto r = analytics.Get("/subscriptions/" + id + "/analytics");
          if (!r || r->status != 200) return false;
          figures = json::parse(r->body);
          return figures.at("subscription_checks").at("total").get<std::size_t>() >= total;
        },
        std::chrono::seconds(60));
    ASSERT_TRUE(counted) << figures.dump(2);
    const auto& counts = figures.at("subscription_checks");
    EXPECT_EQ(counts.at("total"), total) << figures.dump(2);
    EXPECT_EQ(counts.at("by_outcome").at("new_videos"), 2) << figures.dump(2);
    EXPECT_EQ(counts.at("by_outcome").at("no_new_videos"), by_outcome["no_new_videos"]);
    EXPECT_EQ(counts.at("by_outcome").at("failed"), 0) << figures.dump(2);
    EXPECT_EQ(counts.at("new_videos"), 3) << figures.dump(2);
    auto overall = analytics.Get("/analytics");
    ASSERT_TRUE(overall && overall->status == 200);
    EXPECT_GE(json::parse(overall->body).at("subscription_checks").at("total").get<std::size_t>(),
              total);
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
  CheckSubscriptionEvents(id, Get("/subscriptions/" + id));
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

// The cheap check first (issue 15 §1): a subscription to a channel URL with a channel id reads the
// channel's Atom feed (the demo server's /feeds/videos.xml, YouTube's shape) before listing the
// channel with yt-dlp. The first check lists the channel (the feed was never read); while the feed
// shows no new video, checks end no_new_videos with listing "feed" and yt-dlp never asks the demo
// server for the channel page; a new entry in the feed makes the next check list the channel and
// process exactly that video.
class SubscriptionFeedE2E : public SubscriptionsE2E {
 protected:
  static constexpr const char* kChannelId = "UCchansumDemoChannel0001";

  void BeforeServices() override {
    services_.extra_env["orchestrator:SUBSCRIPTION_FEED_URL"] =
        demo_.base_url + "/feeds/videos.xml?channel_id={channel_id}";
  }
  // Requests of the channel page (yt-dlp's full listings) and of the Atom feed in the demo
  // server's log.
  int ServerRequests(const std::string& path_prefix) const {
    std::ifstream in(demo_.dir / "server.log");
    int n = 0;
    for (std::string line; std::getline(in, line);) {
      n += line.find("GET " + path_prefix) != std::string::npos;
    }
    return n;
  }
  static int Checks(const json& view, const std::string& listing) {
    int n = 0;
    for (const auto& c : view.at("recent_checks")) n += c.at("listing") == listing;
    return n;
  }
};

TEST_F(SubscriptionFeedE2E, AnUnchangedFeedRunsNoListingANewEntryListsTheChannel) {
  auto api = services_.Api();
  const std::string channel = demo_.base_url + "/channel/" + kChannelId + "/videos";
  const json request = {{"channel", channel}, {"every", "2s"}, {"since", "now"}};
  auto created = api.Post("/subscriptions", request.dump(), "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const auto id = json::parse(created->body).at("id").get<std::string>();

  // The first check reads the feed, then lists the channel (nothing seen before); nothing is
  // newer than `since`, so no job. Then checks the feed alone decides.
  auto view = WaitSubscription(
      id, [](const json& v) { return Checks(v, "feed") >= 2; }, std::chrono::seconds(60),
      "no check decided from the feed");
  EXPECT_EQ(view.at("channel_id"), kChannelId) << view.dump(2);
  EXPECT_TRUE(view.at("jobs").empty()) << view.dump(2);
  const auto& checks = view.at("recent_checks");
  const auto& first = checks.back();
  EXPECT_EQ(first.at("listing"), "full") << first.dump();
  EXPECT_EQ(first.at("feed_note"), "the feed's first read: the full listing decides")
      << first.dump();
  for (const auto& c : checks) {
    if (c.at("listing") != "feed") continue;
    EXPECT_EQ(c.at("state"), "no_new_videos") << c.dump();
    EXPECT_TRUE(c.at("feed_note").is_null()) << c.dump();
  }
  const int full_listings = Checks(view, "full");
  EXPECT_EQ(full_listings, 1) << view.dump(2);
  EXPECT_EQ(ServerRequests("/channel/"), full_listings) << "yt-dlp listed the channel";
  EXPECT_GE(ServerRequests("/feeds/videos.xml?channel_id=" + std::string(kChannelId)),
            full_listings + 2);
  // More quiet checks, still no listing.
  const int checks_before = view.at("checks").get<int>();
  view = WaitSubscription(
      id, [&](const json& v) { return v.at("checks").get<int>() >= checks_before + 2; },
      std::chrono::seconds(30), "the checks stopped");
  EXPECT_EQ(ServerRequests("/channel/"), 1) << "a check with an unchanged feed ran yt-dlp";

  // ------------------------------------------------------------ a new entry in the feed
  AddFeedItem("honeybees", "fresh-upload", "Tue, 01 Jan 2030 09:00:00 +0000");
  view = WaitSubscription(
      id, [](const json& v) { return v.at("jobs").size() == 1; }, std::chrono::seconds(60),
      "the new feed entry started no job");
  ASSERT_EQ(view.at("jobs").size(), 1U);
  EXPECT_EQ(view.at("jobs")[0].at("new_videos"), 1) << view.dump(2);
  EXPECT_EQ(ServerRequests("/channel/"), 2) << "the new entry did not lead to one full listing";
  for (const auto& c : view.at("recent_checks")) {
    if (c.at("state") != "job_started") continue;
    EXPECT_EQ(c.at("listing"), "full") << c.dump();
    EXPECT_EQ(c.at("feed_note"), "the feed shows a video not seen at the last check") << c.dump();
  }
  const auto job = WaitJob(view.at("jobs")[0].at("job_id").get<std::string>());
  EXPECT_EQ(job.at("state"), "completed") << job.dump(2);
  ASSERT_EQ(job.at("videos").size(), 1U) << job.dump(2);
  EXPECT_EQ(job.at("videos")[0].at("source_id"), "fresh-upload");
  EXPECT_EQ(job.at("videos")[0].at("state"), "done");

  // The entry is seen now: the next checks decide from the feed again.
  const int feed_checks = Checks(view, "feed");
  view = WaitSubscription(
      id, [&](const json& v) { return Checks(v, "feed") >= feed_checks + 1; },
      std::chrono::seconds(30), "no feed check after the new video");
  EXPECT_EQ(ServerRequests("/channel/"), 2);
  auto removed = api.Delete("/subscriptions/" + id);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 204);
}

}  // namespace
}  // namespace chansum::e2e
