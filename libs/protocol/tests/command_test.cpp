#include "chansum/protocol/command.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace chansum::protocol {
namespace {

namespace fs = std::filesystem;

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

const fs::path kProto = CHANSUM_PROTO_DIR;

TEST(CommandTest, EveryStageHasASchemaAndAnExampleThatRoundTrips) {
  for (Stage stage : kAllStages) {
    const std::string type = CommandType(stage);
    ASSERT_TRUE(fs::exists(kProto / "commands" / (type + ".schema.json"))) << type;
    const auto example = ReadJson(kProto / "examples" / (type + ".json"));
    auto parsed = CommandFromJson(example);
    ASSERT_TRUE(parsed.ok()) << type << ": " << parsed.error().ToString();
    EXPECT_EQ(parsed->stage, stage);
    EXPECT_EQ(ToJson(*parsed), example) << "round trip changed " << type;
  }
}

// The parser enforces what the schemas say: every required field (envelope and data) is needed,
// and unknown fields are rejected. Driven by the schema files so code and contract stay in step.
TEST(CommandTest, ParserEnforcesSchemaRequiredAndAdditionalProperties) {
  const auto envelope = ReadJson(kProto / "commands" / "command.schema.json");
  for (Stage stage : kAllStages) {
    const std::string type = CommandType(stage);
    const auto example = ReadJson(kProto / "examples" / (type + ".json"));
    const auto data_schema = ReadJson(kProto / "commands" / (type + ".schema.json"));
    for (const auto& field : envelope["required"]) {
      auto broken = example;
      broken.erase(field.get<std::string>());
      EXPECT_FALSE(CommandFromJson(broken).ok()) << type << " without " << field;
    }
    for (const auto& field : data_schema.value("required", nlohmann::json::array())) {
      auto broken = example;
      broken["data"].erase(field.get<std::string>());
      auto r = CommandFromJson(broken);
      ASSERT_FALSE(r.ok()) << type << " without data." << field;
      EXPECT_NE(r.error().message.find(field.get<std::string>()), std::string::npos);
    }
    auto extra = example;
    extra["surprise"] = 1;
    EXPECT_FALSE(CommandFromJson(extra).ok()) << type << " with unknown envelope field";
    extra = example;
    extra["data"]["surprise"] = 1;
    EXPECT_FALSE(CommandFromJson(extra).ok()) << type << " with unknown data field";
    ASSERT_EQ(data_schema["additionalProperties"], false) << type;
  }
}

TEST(CommandTest, RejectsMalformedInputWithAReason) {
  auto r = ParseCommand("{not json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "body is not valid JSON");
  EXPECT_FALSE(r.error().transient());

  auto example = ReadJson(kProto / "examples" / "download.requested.json");
  example["type"] = "explode.requested";
  EXPECT_FALSE(CommandFromJson(example).ok());
  example = ReadJson(kProto / "examples" / "download.requested.json");
  example["attempt"] = "1";
  EXPECT_FALSE(CommandFromJson(example).ok());
  example = ReadJson(kProto / "examples" / "download.requested.json");
  example.erase("video_id");
  EXPECT_FALSE(CommandFromJson(example).ok()) << "video stages need a video_id";
  example = ReadJson(kProto / "examples" / "discovery.requested.json");
  example["data"]["channel_url"] = "--exec=rm";
  EXPECT_FALSE(CommandFromJson(example).ok());
  example = ReadJson(kProto / "examples" / "discovery.requested.json");
  example["data"]["max_videos"] = 0;
  EXPECT_FALSE(CommandFromJson(example).ok());
}

TEST(CommandTest, NewCommandSerializesAndParsesBack) {
  auto c = NewCommand(Stage::kTranscription, "job", "vid", "trace",
                      nlohmann::json{{"audio_path", "/m/vid/audio.wav"}}, 3);
  auto back = ParseCommand(Serialize(c));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->message_id, c.message_id);
  EXPECT_EQ(back->attempt, 3);
  EXPECT_EQ(back->data["audio_path"], "/m/vid/audio.wav");
}

TEST(StageTest, NamesQueuesAndOrder) {
  EXPECT_EQ(QueueName("", Stage::kAudioExtraction), "audio_extraction");
  EXPECT_EQ(QueueName("t1.", Stage::kDownload), "t1.download");
  EXPECT_EQ(StageFromName("transcription"), Stage::kTranscription);
  EXPECT_FALSE(StageFromName("nope").has_value());
  EXPECT_EQ(NextStage(Stage::kDownload), Stage::kAudioExtraction);
  EXPECT_EQ(NextStage(Stage::kTranscription), Stage::kSummarization);
  EXPECT_FALSE(NextStage(Stage::kSummarization).has_value());
}

}  // namespace
}  // namespace chansum::protocol
