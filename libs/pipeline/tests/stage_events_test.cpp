#include <gtest/gtest.h>

#include "chansum/pipeline/pipeline.hpp"
#include "chansum/protocol/events.hpp"

namespace chansum::pipeline {
namespace {

using protocol::Stage;

// The stage event built from real handler facts validates against the contract.
Result<protocol::Event> Validate(Stage stage, const nlohmann::json& data) {
  return protocol::EventFromJson(protocol::ToJson(
      protocol::NewEvent(*protocol::StageCompletedEvent(stage),
                         "0d9c3a52-6a3e-4f4f-8f0e-2b7d6c5a4e31", "vid", "trace", data)));
}

TEST(StageEventDataTest, TakesTheContractFieldsFromTheHandlerFacts) {
  auto d = StageEventData(Stage::kDownload, {{"bytes", 123u}}, 45);
  EXPECT_EQ(d, (nlohmann::json{{"duration_ms", 45}, {"bytes", 123}}));
  EXPECT_TRUE(Validate(Stage::kDownload, d).ok());

  d = StageEventData(Stage::kAudioExtraction, {{"audio_seconds", 10.5}, {"bytes", 336044}}, 7);
  EXPECT_EQ(d, (nlohmann::json{{"duration_ms", 7}, {"audio_seconds", 10.5}, {"bytes", 336044}}));
  EXPECT_TRUE(Validate(Stage::kAudioExtraction, d).ok());

  d = StageEventData(Stage::kTranscription,
                     {{"engine", "pocketsphinx"}, {"segments", 3}, {"audio_seconds", 10.5}}, 900);
  EXPECT_EQ(d, (nlohmann::json{{"duration_ms", 900},
                               {"engine", "pocketsphinx"},
                               {"segments", 3},
                               {"audio_seconds", 10.5}}));
  EXPECT_TRUE(Validate(Stage::kTranscription, d).ok());

  d = StageEventData(Stage::kSummarization,
                     {{"engine", "textrank"}, {"key_points", 5}, {"summary_chars", 400}}, 12);
  EXPECT_EQ(
      d,
      (nlohmann::json{
          {"duration_ms", 12}, {"engine", "textrank"}, {"key_points", 5}, {"summary_chars", 400}}));
  EXPECT_TRUE(Validate(Stage::kSummarization, d).ok());
}

TEST(StageEventDataTest, MissingOrOddFactsStillMakeAValidEvent) {
  // A reused result reports only {"reused": true}.
  for (Stage s :
       {Stage::kDownload, Stage::kAudioExtraction, Stage::kTranscription, Stage::kSummarization}) {
    auto d = StageEventData(s, {{"reused", true}}, -3);
    EXPECT_FALSE(d.contains("reused"));
    EXPECT_EQ(d["duration_ms"], 0);
    auto v = Validate(s, d);
    EXPECT_TRUE(v.ok()) << protocol::StageName(s) << ": " << v.error().ToString();
  }
  auto d = StageEventData(Stage::kTranscription, {{"engine", ""}, {"segments", "many"}}, 1);
  EXPECT_EQ(d["engine"], "unknown");
  EXPECT_EQ(d["segments"], 0);
  d = StageEventData(Stage::kDownload, {{"bytes", -5}}, 1);
  EXPECT_EQ(d["bytes"], 0);
  d = StageEventData(Stage::kDownload, nullptr, 1);
  EXPECT_TRUE(Validate(Stage::kDownload, d).ok());
}

}  // namespace
}  // namespace chansum::pipeline
