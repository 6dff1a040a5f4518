// The transcript and summary documents against their JSON Schemas (proto/documents): the
// examples validate, parse and round-trip; what the writers produce (ToJson) validates.
#include "chansum/protocol/documents.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace chansum::protocol {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kProto = CHANSUM_PROTO_DIR;

json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

bool HasType(const json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  return false;
}

// The subset of JSON Schema the document schemas use: type, required, properties,
// additionalProperties: false, items, enum, minimum, minLength. Returns the first violation.
std::string Violation(const json& schema, const json& v, const std::string& at = "$") {
  if (schema.contains("type") && !HasType(v, schema["type"])) {
    return at + " is not of type " + schema["type"].get<std::string>();
  }
  if (schema.contains("enum") &&
      std::find(schema["enum"].begin(), schema["enum"].end(), v) == schema["enum"].end()) {
    return at + " is not one of " + schema["enum"].dump();
  }
  if (schema.contains("minimum") && v.is_number() && v.get<double>() < schema["minimum"]) {
    return at + " is below the minimum";
  }
  if (schema.contains("minLength") && v.is_string() &&
      v.get_ref<const std::string&>().size() < schema["minLength"].get<std::size_t>()) {
    return at + " is too short";
  }
  if (v.is_object()) {
    for (const auto& key : schema.value("required", json::array())) {
      if (!v.contains(key)) return at + "." + key.get<std::string>() + " is required";
    }
    const auto properties = schema.value("properties", json::object());
    for (const auto& [key, value] : v.items()) {
      if (!properties.contains(key)) {
        if (schema.value("additionalProperties", true) == false)
          return at + "." + key + " is unknown";
        continue;
      }
      if (auto p = Violation(properties[key], value, at + "." + key); !p.empty()) return p;
    }
  }
  if (v.is_array() && schema.contains("items")) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      auto p = Violation(schema["items"], v[i], at + "[" + std::to_string(i) + "]");
      if (!p.empty()) return p;
    }
  }
  return "";
}

json Schema(const std::string& name) {
  return ReadJson(kProto / "documents" / (name + ".schema.json"));
}
json Example(const std::string& name) {
  return ReadJson(kProto / "examples" / "documents" / (name + ".json"));
}
json WithoutId(json doc) {
  doc.erase("_id");
  return doc;
}

TEST(DocumentsTest, CollectionNames) {
  EXPECT_STREQ(kTranscriptsCollection, "transcripts");
  EXPECT_STREQ(kSummariesCollection, "summaries");
  EXPECT_STREQ(kDigestsCollection, "digests");
}

TEST(DocumentsTest, TranscriptExampleValidatesParsesAndRoundTrips) {
  const auto schema = Schema("transcript");
  const auto example = Example("transcript");
  EXPECT_EQ(Violation(schema, example), "");
  auto t = TranscriptFromJson(example);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t->source, "asr");
  ASSERT_EQ(t->segments.size(), 3U);
  EXPECT_DOUBLE_EQ(t->segments[1].start, 3.9);
  EXPECT_EQ(t->text, JoinSegments(t->segments));
  EXPECT_EQ(ToJson(*t), WithoutId(example));

  // What the writers produce validates, also with defaults.
  EXPECT_EQ(Violation(schema, ToJson(Transcript{})), "");
  Transcript captions;
  captions.source = "captions";
  captions.engine = "captions";
  captions.segments = {{0, 1.5, "Hello."}, {1.5, 3, "World."}};
  captions.text = JoinSegments(captions.segments);
  EXPECT_EQ(Violation(schema, ToJson(captions)), "");
  EXPECT_EQ(TranscriptFromJson(ToJson(captions)).value(), captions);

  // The schema rejects what the contract does not allow (so the checks above can fail).
  auto bad = example;
  bad["source"] = "radio";
  EXPECT_NE(Violation(schema, bad), "");
  bad = example;
  bad["segments"][0].erase("end");
  EXPECT_NE(Violation(schema, bad), "");
  EXPECT_FALSE(TranscriptFromJson(bad).ok());
  bad = example;
  bad["speaker"] = "x";
  EXPECT_NE(Violation(schema, bad), "");
}

TEST(DocumentsTest, SummaryExamplesValidateParseAndRoundTrip) {
  const auto schema = Schema("summary");
  for (const char* name : {"summary", "summary.llm"}) {
    const auto example = Example(name);
    EXPECT_EQ(Violation(schema, example), "") << name;
    auto s = SummaryFromJson(example);
    ASSERT_TRUE(s.ok()) << name << ": " << s.error().ToString();
    EXPECT_EQ(ToJson(*s), WithoutId(example)) << name;
  }
  auto llm = SummaryFromJson(Example("summary.llm")).value();
  ASSERT_TRUE(llm.usage.has_value());
  EXPECT_EQ(llm.usage->total_tokens, 260);
  EXPECT_EQ(llm.usage->calls, 1);
  EXPECT_EQ(llm.chunks, 1);
  EXPECT_EQ(llm.requested_model, "gpt-4o-mini");
  auto textrank = SummaryFromJson(Example("summary")).value();
  EXPECT_FALSE(textrank.usage.has_value());
  EXPECT_FALSE(textrank.chunks.has_value());
  EXPECT_EQ(Violation(schema, ToJson(Summary{})), "");

  auto bad = Example("summary.llm");
  bad["usage"].erase("calls");
  EXPECT_NE(Violation(schema, bad), "");
  EXPECT_FALSE(SummaryFromJson(bad).ok());
  bad = Example("summary.llm");
  bad["chunks"] = -1;
  EXPECT_NE(Violation(schema, bad), "");
  EXPECT_FALSE(SummaryFromJson(bad).ok());
  bad = Example("summary");
  bad.erase("summary");
  EXPECT_NE(Violation(schema, bad), "");
  EXPECT_FALSE(SummaryFromJson(bad).ok());
}

}  // namespace
}  // namespace chansum::protocol
