#include "chansum/asr/transcript.hpp"

#include <gtest/gtest.h>

namespace chansum::asr {
namespace {

Transcript Sample() {
  Transcript t;
  t.engine = "pocketsphinx";
  t.segments = {{0.0, 1.5, "the printing press"}, {2.1, 3.0, "changed europe"}};
  t.text = JoinSegments(t.segments);
  t.audio_seconds = 3.2;
  return t;
}

TEST(TranscriptTest, JoinSegmentsUsesSingleSpacesAndSkipsEmpty) {
  EXPECT_EQ(JoinSegments({{0, 1, "a b"}, {1, 2, ""}, {2, 3, "c"}}), "a b c");
  EXPECT_EQ(JoinSegments({}), "");
}

TEST(TranscriptTest, JsonHasTheStoredShape) {
  const auto j = ToJson(Sample());
  EXPECT_EQ(j.at("source"), "asr");
  EXPECT_EQ(j.at("engine"), "pocketsphinx");
  EXPECT_EQ(j.at("language"), "en");
  EXPECT_EQ(j.at("text"), "the printing press changed europe");
  ASSERT_EQ(j.at("segments").size(), 2u);
  EXPECT_EQ(j.at("segments")[1].at("text"), "changed europe");
  EXPECT_DOUBLE_EQ(j.at("segments")[1].at("start").get<double>(), 2.1);
  EXPECT_DOUBLE_EQ(j.at("segments")[1].at("end").get<double>(), 3.0);
}

TEST(TranscriptTest, RoundTrips) {
  const auto t = Sample();
  auto back = TranscriptFromJson(ToJson(t));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, t);
}

TEST(TranscriptTest, ParsesCaptionDocumentWithoutOptionalFields) {
  auto t = TranscriptFromJson(nlohmann::json::parse(
      R"({"source":"captions","segments":[{"start":0,"end":2.5,"text":"Hello there."},
          {"start":2.5,"end":4,"text":"General Kenobi."}]})"));
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t->source, "captions");
  EXPECT_EQ(t->language, "en");
  EXPECT_EQ(t->text, "Hello there. General Kenobi.");
  EXPECT_DOUBLE_EQ(t->audio_seconds, 4.0);
}

TEST(TranscriptTest, RejectsMalformedDocuments) {
  for (const char* doc : {R"([])", R"({"segments":[]})", R"({"source":"asr"})",
                          R"({"source":"asr","segments":[{"start":"0","end":1,"text":"x"}]})",
                          R"({"source":"asr","segments":[{"start":0,"end":1}]})",
                          R"({"source":"asr","segments":[],"text":5})"}) {
    auto t = TranscriptFromJson(nlohmann::json::parse(doc));
    ASSERT_FALSE(t.ok()) << doc;
    EXPECT_EQ(t.error().code, "bad_transcript");
    EXPECT_FALSE(t.error().transient());
  }
}

}  // namespace
}  // namespace chansum::asr
