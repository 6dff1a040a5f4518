#include "chansum/protocol/events.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace chansum::protocol {
namespace {

namespace fs = std::filesystem;

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

const fs::path kProto = CHANSUM_PROTO_DIR;

nlohmann::json Example(EventType type) {
  return ReadJson(kProto / "examples" / "events" / (std::string(EventTypeName(type)) + ".json"));
}
nlohmann::json Schema(EventType type) {
  return ReadJson(kProto / "events" / (std::string(EventTypeName(type)) + ".schema.json"));
}

// A value of a type the schema does not allow for the property.
nlohmann::json WrongValue(const nlohmann::json& property) {
  const auto& t = property["type"];
  const bool allows_string =
      t == "string" || (t.is_array() && std::find(t.begin(), t.end(), "string") != t.end());
  return allows_string ? nlohmann::json(12) : nlohmann::json("twelve");
}

TEST(EventTest, NamesTopicsAndExchange) {
  EXPECT_EQ(EventTypeName(EventType::kTranscriptionCompleted), "transcription.completed");
  EXPECT_EQ(EventTypeFromName("job.completed"), EventType::kJobCompleted);
  EXPECT_FALSE(EventTypeFromName("job.exploded").has_value());
  EXPECT_EQ(EventTopic("e2e-ab12.", EventType::kVideoDownloaded), "e2e-ab12.video.downloaded");
  EXPECT_EQ(EventTopic("", EventType::kVideoFailed), "video.failed");
  EXPECT_EQ(EventsExchange("t1."), "t1.events");
  EXPECT_EQ(EventsExchange(""), "events");
  const auto topics = EventTopics("p.");
  ASSERT_EQ(topics.size(), 8u);
  EXPECT_EQ(topics.front(), "p.video.discovered");
  EXPECT_EQ(topics.back(), "p.subscription.checked");
  EXPECT_EQ(EventTypeFromName("subscription.checked"), EventType::kSubscriptionChecked);
  EXPECT_EQ(StageCompletedEvent(Stage::kDownload), EventType::kVideoDownloaded);
  EXPECT_EQ(StageCompletedEvent(Stage::kAudioExtraction), EventType::kAudioExtracted);
  EXPECT_EQ(StageCompletedEvent(Stage::kTranscription), EventType::kTranscriptionCompleted);
  EXPECT_EQ(StageCompletedEvent(Stage::kSummarization), EventType::kSummarizationCompleted);
  EXPECT_FALSE(StageCompletedEvent(Stage::kDiscovery).has_value());
}

TEST(EventTest, EveryTypeHasASchemaAndAnExampleThatRoundTrips) {
  for (EventType type : kAllEventTypes) {
    const std::string name(EventTypeName(type));
    const auto schema = Schema(type);
    EXPECT_EQ(schema["properties"]["type"]["const"], name);
    const auto example = Example(type);
    auto parsed = EventFromJson(example);
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.error().ToString();
    EXPECT_EQ(parsed->type, type);
    EXPECT_EQ(ToJson(*parsed), example) << "round trip changed " << name;
    auto reparsed = ParseEvent(Serialize(*parsed));
    ASSERT_TRUE(reparsed.ok()) << name << ": " << reparsed.error().ToString();
    EXPECT_EQ(ToJson(*reparsed), example);
    EXPECT_EQ(EventKey(*parsed), type == EventType::kJobCompleted ? example["job_id"]
                                 : type == EventType::kSubscriptionChecked
                                     ? example["data"]["subscription_id"]
                                     : example["video_id"]);
  }
}

// The parser enforces what the schemas say: every required field (envelope and data) is needed,
// unknown fields are rejected, and each property's type is checked. Driven by the schema files so
// code and contract stay in step.
TEST(EventTest, ParserEnforcesSchemaRequiredTypesAndAdditionalProperties) {
  for (EventType type : kAllEventTypes) {
    const std::string name(EventTypeName(type));
    const auto schema = Schema(type);
    const auto example = Example(type);
    ASSERT_EQ(schema["additionalProperties"], false) << name;
    const auto& data_schema = schema["properties"]["data"];
    ASSERT_EQ(data_schema["additionalProperties"], false) << name;
    // The schema names exactly the fields the example has (the example is complete).
    EXPECT_EQ(schema["required"].size(), example.size()) << name;
    EXPECT_EQ(data_schema["required"].size(), example["data"].size()) << name;

    for (const auto& field : schema["required"]) {
      auto broken = example;
      broken.erase(field.get<std::string>());
      auto r = EventFromJson(broken);
      ASSERT_FALSE(r.ok()) << name << " without " << field;
      EXPECT_FALSE(r.error().transient());
    }
    for (const auto& field : data_schema["required"]) {
      const auto key = field.get<std::string>();
      auto broken = example;
      broken["data"].erase(key);
      auto r = EventFromJson(broken);
      ASSERT_FALSE(r.ok()) << name << " without data." << key;
      EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;

      broken = example;
      broken["data"][key] = WrongValue(data_schema["properties"][key]);
      r = EventFromJson(broken);
      ASSERT_FALSE(r.ok()) << name << " with data." << key << " = " << broken["data"][key];
      EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
    }
    for (const auto& [key, property] : data_schema["properties"].items()) {
      if (!property.contains("enum")) continue;
      auto broken = example;
      broken["data"][key] = "not-" + property["enum"][0].get<std::string>();
      EXPECT_FALSE(EventFromJson(broken).ok()) << name << " with a bad " << key;
      for (const auto& allowed : property["enum"]) {
        auto ok = example;
        ok["data"][key] = allowed;
        EXPECT_TRUE(EventFromJson(ok).ok()) << name << " with " << key << " = " << allowed;
      }
    }
    auto extra = example;
    extra["surprise"] = 1;
    EXPECT_FALSE(EventFromJson(extra).ok()) << name << " with unknown envelope field";
    extra = example;
    extra["data"]["surprise"] = 1;
    EXPECT_FALSE(EventFromJson(extra).ok()) << name << " with unknown data field";
    extra = example;
    extra["version"] = 2;
    EXPECT_FALSE(EventFromJson(extra).ok()) << name << " version 2";
  }
}

TEST(EventTest, JobCompletedHasNoVideoIdAndVideoEventsNeedOne) {
  auto job = Example(EventType::kJobCompleted);
  job["video_id"] = "abc";
  auto r = EventFromJson(job);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("video_id"), std::string::npos);

  auto video = Example(EventType::kVideoDownloaded);
  video["video_id"] = "";
  EXPECT_FALSE(EventFromJson(video).ok());
}

// subscription.checked: no video_id, keyed by its subscription, ids checked as UUIDs, the job it
// started and the error nullable.
TEST(EventTest, SubscriptionCheckedShapeAndFacts) {
  const auto example = Example(EventType::kSubscriptionChecked);
  auto with_video = example;
  with_video["video_id"] = "abc";
  auto r = EventFromJson(with_video);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("video_id"), std::string::npos);

  for (const char* key : {"subscription_id", "check_id", "started_job_id"}) {
    auto bad = example;
    bad["data"][key] = "not-a-uuid";
    r = EventFromJson(bad);
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_NE(r.error().message.find(std::string("data.") + key + " must be a UUID"),
              std::string::npos)
        << r.error().message;
  }
  auto none = example;
  none["data"]["outcome"] = "no_new_videos";
  none["data"]["new_videos"] = 0;
  none["data"]["started_job_id"] = nullptr;
  none["data"]["listing"] = "feed";
  auto parsed = EventFromJson(none);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  auto facts = SubscriptionChecked(*parsed);
  ASSERT_TRUE(facts.has_value());
  EXPECT_EQ(facts->subscription_id, example["data"]["subscription_id"]);
  EXPECT_EQ(facts->check_id, example["data"]["check_id"]);
  EXPECT_EQ(facts->outcome, "no_new_videos");
  EXPECT_EQ(facts->new_videos, 0);
  EXPECT_EQ(facts->started_job_id, "");
  EXPECT_EQ(facts->listing, "feed");
  EXPECT_EQ(facts->error, "");

  auto failed = example;
  failed["data"]["outcome"] = "failed";
  failed["data"]["error"] = "permanent ytdlp_failed: no such channel";
  failed["data"]["started_job_id"] = nullptr;
  facts = SubscriptionChecked(*EventFromJson(failed));
  ASSERT_TRUE(facts.has_value());
  EXPECT_EQ(facts->error, "permanent ytdlp_failed: no such channel");

  auto fresh = NewEvent(EventType::kSubscriptionChecked, example["job_id"], "ignored", "trace",
                        example["data"]);
  EXPECT_TRUE(fresh.video_id.empty());
  EXPECT_EQ(EventKey(fresh), example["data"]["subscription_id"]);
  EXPECT_TRUE(ParseEvent(Serialize(fresh)).ok());
}

TEST(EventTest, NullableDiscoveryFactsAcceptNull) {
  auto e = Example(EventType::kVideoDiscovered);
  e["data"]["duration_s"] = nullptr;
  e["data"]["published_at"] = nullptr;
  e["data"]["title"] = "";
  EXPECT_TRUE(EventFromJson(e).ok());
  e["data"]["duration_s"] = -1;
  EXPECT_FALSE(EventFromJson(e).ok());
}

TEST(EventTest, RejectsMalformedInputWithAReason) {
  auto r = ParseEvent("{not json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "payload is not valid JSON");
  EXPECT_EQ(r.error().code, "malformed_event");
  r = ParseEvent("[1,2]");
  EXPECT_FALSE(r.ok());
  auto e = Example(EventType::kVideoDownloaded);
  e["type"] = "video.exploded";
  r = EventFromJson(e);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("video.exploded"), std::string::npos);
  e = Example(EventType::kVideoDownloaded);
  e["data"]["bytes"] = -5;
  EXPECT_FALSE(EventFromJson(e).ok());
  e = Example(EventType::kVideoDownloaded);
  e["data"]["bytes"] = 1.5;
  EXPECT_FALSE(EventFromJson(e).ok());
  e = Example(EventType::kVideoFailed);
  e["data"]["attempts"] = 0;
  EXPECT_FALSE(EventFromJson(e).ok());
}

TEST(EventTest, NewEventSerializesAndParsesBack) {
  const std::string job_id = "0d9c3a52-6a3e-4f4f-8f0e-2b7d6c5a4e31";
  auto e = NewEvent(EventType::kTranscriptionCompleted, job_id, "vid", "trace",
                    {{"duration_ms", 1200},
                     {"engine", "pocketsphinx"},
                     {"segments", 4},
                     {"audio_seconds", 12.5}});
  EXPECT_EQ(e.event_id.size(), 36u);
  EXPECT_FALSE(e.occurred_at.empty());
  const auto wire = Serialize(e);
  EXPECT_EQ(wire.rfind("{\"event_id\":", 0), 0u) << "envelope order on the wire: " << wire;
  auto back = ParseEvent(wire);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->event_id, e.event_id);
  EXPECT_EQ(back->video_id, "vid");
  EXPECT_EQ(back->data["audio_seconds"], 12.5);
  EXPECT_EQ(EventKey(*back), "vid");

  auto job = NewEvent(
      EventType::kJobCompleted, job_id, "ignored", "trace",
      {{"state", "completed"}, {"video_count", 0}, {"done", 0}, {"failed", 0}, {"duration_ms", 5}});
  EXPECT_TRUE(job.video_id.empty());
  EXPECT_EQ(EventKey(job), job_id);
  auto job_back = ParseEvent(Serialize(job));
  ASSERT_TRUE(job_back.ok()) << job_back.error().ToString();
  EXPECT_NE(NewEvent(EventType::kJobCompleted, "j", "", "t", {}).event_id, job.event_id);
}

TEST(EventTest, FormatsOfTheSchemas) {
  EXPECT_TRUE(IsUuid("0b7f3c1e-5d2a-4c8e-9f10-1a2b3c4d5e6f"));
  EXPECT_TRUE(IsUuid("6F1C2B3A-0000-4000-8000-00000000ABCD"));
  EXPECT_FALSE(IsUuid("0b7f3c1e5d2a-4c8e-9f10-1a2b3c4d5e6f0"));
  EXPECT_FALSE(IsUuid("0b7f3c1e-5d2a-4c8e-9f10-1a2b3c4d5e6g"));
  EXPECT_FALSE(IsUuid("0b7f3c1e-5d2a-4c8e-9f10-1a2b3c4d5e6"));
  EXPECT_TRUE(IsRfc3339("2026-11-23T12:00:00.000Z"));
  EXPECT_TRUE(IsRfc3339("2024-02-29T23:59:59+01:00"));
  EXPECT_TRUE(IsRfc3339("2026-11-23T12:00:00Z"));
  EXPECT_FALSE(IsRfc3339("2025-02-29T00:00:00Z"));
  EXPECT_FALSE(IsRfc3339("2026-11-23 12:00:00Z"));
  EXPECT_FALSE(IsRfc3339("2026-11-23T24:00:00Z"));
  EXPECT_FALSE(IsRfc3339("2026-11-23T12:00:00"));
  EXPECT_FALSE(IsRfc3339("2026-11-23T12:00:00+24:00"));

  // The parser applies them, naming the field.
  const auto example = Example(EventType::kVideoDownloaded);
  for (const char* key : {"event_id", "job_id", "occurred_at"}) {
    auto bad = example;
    bad[key] = "2026-02-30T00:00:00Z-nope";
    auto r = EventFromJson(bad);
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
  }
  auto big = example;
  big["data"]["bytes"] = std::uint64_t{1} << 63;
  EXPECT_NE(EventFromJson(big).error().message.find("data.bytes is out of range"),
            std::string::npos);
  big["data"]["bytes"] = -1;
  EXPECT_NE(EventFromJson(big).error().message.find("data.bytes must not be negative"),
            std::string::npos);
  big["version"] = 2;
  EXPECT_NE(EventFromJson(big).error().message.find("unsupported event version 2"),
            std::string::npos);
}

// The tolerant reader ignores (and drops) what the schema does not name, and checks the rest the
// same way.
TEST(EventTest, IgnoringUnknownFieldsDropsThemAndChecksTheRest) {
  for (EventType type : kAllEventTypes) {
    auto example = Example(type);
    example["surprise"] = 1;
    example["data"]["extra"] = "x";
    if (!HasVideoId(type)) example["video_id"] = "v";
    EXPECT_FALSE(EventFromJson(example).ok()) << EventTypeName(type);
    auto e = EventFromJson(example, UnknownFields::kIgnore);
    ASSERT_TRUE(e.ok()) << EventTypeName(type) << ": " << e.error().ToString();
    EXPECT_EQ(ToJson(*e), Example(type)) << EventTypeName(type);
    EXPECT_TRUE(ParseEvent(Serialize(*e)).ok());
  }
  auto missing = Example(EventType::kVideoDownloaded);
  missing["data"].erase("bytes");
  EXPECT_FALSE(EventFromJson(missing, UnknownFields::kIgnore).ok());
  missing = Example(EventType::kVideoDownloaded);
  missing.erase("trace_id");
  EXPECT_FALSE(EventFromJson(missing, UnknownFields::kIgnore).ok());
  auto bad = Example(EventType::kVideoDownloaded);
  bad["data"]["bytes"] = -1;
  EXPECT_FALSE(EventFromJson(bad, UnknownFields::kIgnore).ok());
}

TEST(EventTest, TypedFactsOfEachType) {
  for (EventType type : kAllEventTypes) {
    const auto stage = CompletedStage(type);
    if (stage) {
      EXPECT_EQ(StageCompletedEvent(*stage), type);
    }
    auto e = EventFromJson(Example(type));
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    EXPECT_EQ(StageDurationMs(*e).has_value(), stage.has_value());
    if (stage) {
      EXPECT_EQ(*StageDurationMs(*e), Example(type)["data"]["duration_ms"]);
    }
    EXPECT_EQ(VideoFailed(*e).has_value(), type == EventType::kVideoFailed);
    EXPECT_EQ(JobCompleted(*e).has_value(), type == EventType::kJobCompleted);
    EXPECT_EQ(SubscriptionChecked(*e).has_value(), type == EventType::kSubscriptionChecked);
  }
  EXPECT_EQ(CompletedStage(EventType::kAudioExtracted), Stage::kAudioExtraction);
  EXPECT_FALSE(CompletedStage(EventType::kVideoDiscovered).has_value());

  auto failed = Example(EventType::kVideoFailed);
  failed["data"] = {{"stage", "transcription"},
                    {"error_class", "transient"},
                    {"error_code", "timeout"},
                    {"error_message", "slow"},
                    {"attempts", 5}};
  auto f = VideoFailed(*EventFromJson(failed));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->stage, Stage::kTranscription);
  EXPECT_EQ(f->error_class, "transient");
  EXPECT_EQ(f->error_code, "timeout");
  EXPECT_EQ(f->error_message, "slow");
  EXPECT_EQ(f->attempts, 5);

  auto job = Example(EventType::kJobCompleted);
  job["data"] = {{"state", "completed_with_errors"},
                 {"video_count", 5},
                 {"done", 4},
                 {"failed", 1},
                 {"duration_ms", 9000}};
  auto c = JobCompleted(*EventFromJson(job));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->state, "completed_with_errors");
  EXPECT_EQ(c->video_count, 5);
  EXPECT_EQ(c->done, 4);
  EXPECT_EQ(c->failed, 1);
  EXPECT_EQ(c->duration_ms, 9000);
}

// The raw step keeps what the contract does not know (an audit log records it) and rejects only
// what has no usable event_id; ParseEvent rejects the same bodies with the same reasons.
TEST(EventTest, RawEventKeepsKeyOrderAndNeedsOnlyAnEventId) {
  auto raw = ParseRawEvent(R"({"type":"video.exploded","event_id":"abc","data":{"z":1,"a":2}})");
  ASSERT_TRUE(raw.ok()) << raw.error().ToString();
  EXPECT_EQ(raw->event_id, "abc");
  EXPECT_EQ(raw->json.dump(), R"({"type":"video.exploded","event_id":"abc","data":{"z":1,"a":2}})");
  EXPECT_FALSE(ParseEvent(R"({"type":"video.exploded","event_id":"abc"})").ok());

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "payload is not valid JSON"},
      {"[1]", "payload is not a JSON object"},
      {R"({"type":"x"})", "no event_id"},
      {R"({"event_id":42})", "event_id is not a string"},
      {R"({"event_id":""})", "event_id is empty"},
      {R"({"event_id":")" + std::string(kMaxEventIdLength + 1, 'a') + "\"}",
       "event_id longer than 256"},
  };
  for (const auto& [body, reason] : cases) {
    for (const auto& error : {ParseRawEvent(body).error(), ParseEvent(body).error()}) {
      EXPECT_EQ(error.code, "malformed_event") << body;
      EXPECT_EQ(error.message, reason) << body;
    }
  }
  EXPECT_TRUE(ParseRawEvent(R"({"event_id":")" + std::string(kMaxEventIdLength, 'a') + "\"}").ok());
}

}  // namespace
}  // namespace chansum::protocol
