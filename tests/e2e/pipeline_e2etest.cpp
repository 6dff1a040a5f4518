// End to end through the HTTP API: the offline demo channel goes through all five real stages on
// the real servers. The job must end `completed_with_errors` with exactly the feed's missing entry
// failed, every other video done, transcripts holding their scripts' key words and summaries made
// of their transcripts.
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/kafka/consumer.hpp"
#include "chansum/protocol/events.hpp"
#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json ReadJsonFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

json Scripts() {
  auto j = ReadJsonFile(fs::path(CHANSUM_SOURCE_DIR) / "tests/fixtures/demo_channel/scripts.json");
  return j.is_array() ? j : j.at("videos");
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class PipelineE2E : public DemoPipelineTest {
 protected:
  PipelineE2E()
      : DemoPipelineTest("chansum-demo",
                         {"discovery", "download", "audio_extraction", "transcription",
                          "summarization", "analytics", "event_logger"},
                         false) {}

  void CheckDomainEvents(const std::string& job_id, const json& job);
};

TEST_F(PipelineE2E, DemoChannelEndsCompletedWithErrorsWithOnlyTheMissingEntryFailed) {
  auto api = services_.Api();
  const json request = {{"channel", demo_.base_url + "/feed.xml"}, {"max_videos", 20}};
  auto created = api.Post("/jobs", request.dump(), "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 202) << created->body;
  const auto job_id = json::parse(created->body).at("job_id").get<std::string>();
  EXPECT_EQ(json::parse(created->body).at("status_url"), "/jobs/" + job_id);

  json job;
  const bool finished =
      e2e::WaitJobEnded(api, job_id, std::chrono::minutes(8), std::chrono::milliseconds(500), &job);
  ASSERT_TRUE(finished) << "job did not finish: " << job.dump(2) << "\n" << services_.Logs();

  const auto scripts = Scripts();
  EXPECT_EQ(job.at("state"), "completed_with_errors") << job.dump(2);
  ASSERT_EQ(job.at("videos").size(), scripts.size() + 1) << "every script plus the missing entry";
  EXPECT_EQ(job.at("counts").at("by_state").at("done"), scripts.size());
  EXPECT_EQ(job.at("counts").at("by_state").at("failed"), 1);
  EXPECT_EQ(job.at("counts").at("total"), scripts.size() + 1);
  EXPECT_FALSE(job.at("finished_at").is_null());

  std::map<std::string, json> script_by_title;
  for (const auto& s : scripts) script_by_title[s.at("title").get<std::string>()] = s;

  int failed = 0;
  for (const auto& v : job.at("videos")) {
    const auto vid = v.at("video_id").get<std::string>();
    if (v.at("state") == "failed") {
      ++failed;
      EXPECT_EQ(v.at("stage"), "download") << v.dump();
      ASSERT_TRUE(v.at("last_error").is_string()) << v.dump();
      EXPECT_FALSE(v.at("last_error").get<std::string>().empty());
      EXPECT_EQ(v.at("error_class"), "permanent") << v.dump();
      EXPECT_EQ(script_by_title.count(v.value("title", "")), 0u)
          << "a real script's video failed: " << v.dump();
      continue;
    }
    EXPECT_EQ(v.at("state"), "done") << v.dump();
    EXPECT_EQ(v.at("stage"), "summarization") << v.dump();
    const auto title = v.at("title").get<std::string>();
    ASSERT_EQ(script_by_title.count(title), 1u) << "unexpected title " << title;
    const auto& script = script_by_title[title];
    // Captioned videos skip the audio stages (sync_e2etest checks them in detail).
    const bool captioned = !script.value("captions", "").empty();
    for (const char* stage : {"download", "audio_extraction", "transcription", "summarization"}) {
      ASSERT_TRUE(v.at("timings").contains(stage)) << vid << " has no timing for " << stage;
      EXPECT_EQ(
          v.at("timings").at(stage).value("skipped", false),
          captioned && std::string(stage) != "download" && std::string(stage) != "summarization")
          << vid << " " << stage;
    }

    auto tr = api.Get("/videos/" + vid + "/transcript");
    ASSERT_TRUE(tr);
    ASSERT_EQ(tr->status, 200) << tr->body;
    const auto transcript = json::parse(tr->body);
    const auto text = Lower(transcript.at("text").get<std::string>());
    EXPECT_EQ(transcript.at("source"), captioned ? "captions" : "asr");
    EXPECT_FALSE(transcript.at("segments").empty());
    for (const auto& word : script.at("key_words")) {
      EXPECT_NE(text.find(Lower(word.get<std::string>())), std::string::npos)
          << title << ": key word \"" << word << "\" missing from transcript: " << text;
    }
    std::set<std::string> segment_texts;
    for (const auto& seg : transcript.at("segments")) {
      EXPECT_LE(seg.at("start").get<double>(), seg.at("end").get<double>());
      segment_texts.insert(Lower(seg.at("text").get<std::string>()));
    }

    auto sr = api.Get("/videos/" + vid + "/summary");
    ASSERT_TRUE(sr);
    ASSERT_EQ(sr->status, 200) << sr->body;
    const auto summary = json::parse(sr->body);
    const auto summary_text = Lower(summary.at("summary").get<std::string>());
    EXPECT_FALSE(summary_text.empty()) << title;
    // Made of the readable transcript (txt: the sentences the summarizer reads, numbers as
    // digits), and no longer than it: a demo clip (under SUMMARY_SHORT_TEXT_WORDS) keeps every
    // sentence but fragments, so its summary carries every key word of the script.
    auto txt = api.Get("/videos/" + vid + "/transcript?format=txt");
    ASSERT_TRUE(txt);
    ASSERT_EQ(txt->status, 200) << txt->body;
    const auto readable = Lower(txt->body);
    EXPECT_LE(summary_text.size(), readable.size()) << title << ": summary longer than transcript";
    for (const auto& word : script.at("key_words")) {
      EXPECT_NE(summary_text.find(Lower(word.get<std::string>())), std::string::npos)
          << title << ": key word \"" << word << "\" missing from summary: " << summary_text;
    }
    // Made of its content: every word of the summary occurs in the transcript, spelled the same
    // (the summarizer reads the txt's sentences, proper nouns capitalised: "Neil Armstrong").
    std::istringstream words(summary.at("summary").get<std::string>());
    for (std::string w; words >> w;) {
      while (!w.empty() && std::ispunct(static_cast<unsigned char>(w.back()))) w.pop_back();
      if (w.empty()) continue;
      EXPECT_NE(txt->body.find(w), std::string::npos)
          << title << ": summary word \"" << w << "\" is not in the transcript: " << txt->body;
    }
  }
  EXPECT_EQ(failed, 1);

  // The job appears in the list, newest first.
  auto list = api.Get("/jobs?limit=5");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200);
  const auto page = json::parse(list->body);
  bool listed = false;
  for (const auto& j : page.at("jobs")) listed = listed || j.at("job_id") == job_id;
  EXPECT_TRUE(listed);

  CheckDomainEvents(job_id, job);
}

// Every state change of the run produced exactly one event of the right type, on Kafka (one topic
// per type) and in the audit log (via the RabbitMQ fanout), and analytics agrees with PostgreSQL.
void PipelineE2E::CheckDomainEvents(const std::string& job_id, const json& job) {
  const int total = job.at("counts").at("total").get<int>();
  const int done = job.at("counts").at("by_state").at("done").get<int>();
  const int failed = job.at("counts").at("by_state").at("failed").get<int>();
  // Videos transcribed from captions skip audio extraction and transcription: no events for them.
  int asr = 0;
  for (const auto& v : job.at("videos")) {
    if (v.at("state") == "done" && v.at("skipped_stages").empty()) ++asr;
  }
  EXPECT_LT(asr, done) << "some demo videos carry captions";
  const std::map<std::string, int> expected = {{"video.discovered", total},
                                               {"video.downloaded", done},
                                               {"audio.extracted", asr},
                                               {"transcription.completed", asr},
                                               {"summarization.completed", done},
                                               {"video.failed", failed},
                                               {"job.completed", 1}};
  int expected_total = 0;
  for (const auto& [_, n] : expected) expected_total += n;

  // Kafka: every topic read from the beginning by a fresh consumer group.
  kafka::KafkaConfig kafka_config;
  kafka_config.brokers = testing::RequireEnv("KAFKA_BROKERS");
  kafka_config.client_id = "e2e-check";
  auto consumer =
      kafka::Consumer::Create(kafka_config, {"e2e-check-" + testing::RandomSuffix(), "earliest"});
  ASSERT_TRUE(consumer.ok()) << consumer.error().ToString();
  ASSERT_TRUE((*consumer)->Subscribe(protocol::EventTopics(services_.queue_prefix)).ok());
  std::map<std::string, std::multiset<std::string>> keys_by_type;
  std::set<std::string> kafka_ids;
  int received = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (received < expected_total + 5 && std::chrono::steady_clock::now() < deadline) {
    auto record = (*consumer)->Poll(std::chrono::milliseconds(500));
    if (!record.ok() || !record->has_value()) {
      if (received >= expected_total) break;  // everything arrived and nothing more is coming
      continue;
    }
    auto event = json::parse((*record)->payload);
    ASSERT_EQ(event.at("job_id"), job_id) << (*record)->payload;
    EXPECT_EQ((*record)->topic, services_.queue_prefix + event.at("type").get<std::string>());
    const std::string key = event.value("video_id", job_id);
    EXPECT_EQ((*record)->key, key) << "events are keyed by video id (job id for job.completed)";
    keys_by_type[event.at("type").get<std::string>()].insert(key);
    EXPECT_TRUE(kafka_ids.insert(event.at("event_id").get<std::string>()).second)
        << "event delivered twice: " << (*record)->payload;
    ++received;
  }
  for (const auto& [type, n] : expected) {
    const auto& keys = keys_by_type[type];
    EXPECT_EQ(static_cast<int>(keys.size()), n) << type;
    for (const auto& k : keys) EXPECT_EQ(keys.count(k), 1u) << type << " twice for " << k;
  }
  EXPECT_EQ(received, expected_total);

  // Audit log: the same event ids, each once.
  std::set<std::string> audit_ids;
  int audit_lines = 0;
  testing::WaitFor(
      [&] {
        audit_ids.clear();
        audit_lines = 0;
        std::ifstream in(services_.AuditLogDir() / "events.jsonl");
        for (std::string line; std::getline(in, line);) {
          if (line.empty()) continue;
          ++audit_lines;
          audit_ids.insert(json::parse(line).at("event_id").get<std::string>());
        }
        return audit_ids.size() >= kafka_ids.size();
      },
      std::chrono::seconds(30));
  EXPECT_EQ(audit_ids, kafka_ids) << "the audit log and Kafka disagree";
  EXPECT_EQ(audit_lines, static_cast<int>(audit_ids.size())) << "an event logged twice";

  // Analytics agrees with PostgreSQL's video rows.
  auto analytics_api = services_.Client("analytics");
  json figures;
  const bool caught_up = testing::WaitFor(
      [&] {
        auto r = analytics_api.Get("/jobs/" + job_id + "/analytics");
        if (!r || r->status != 200) return false;
        figures = json::parse(r->body);
        return !figures.at("job").is_null() && figures.at("videos").at("done") == done &&
               figures.at("videos").at("failed") == failed;
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(caught_up) << figures.dump(2);
  EXPECT_EQ(figures.at("videos").at("discovered"), total);
  EXPECT_EQ(figures.at("events_total"), expected_total);
  EXPECT_EQ(figures.at("failures").at("total"), failed);
  EXPECT_EQ(figures.at("failures").at("by_class").value("permanent", 0), failed);
  EXPECT_EQ(figures.at("stages").at("transcription").at("count"), asr);
}

}  // namespace
}  // namespace chansum::e2e
