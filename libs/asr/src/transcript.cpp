#include "chansum/asr/transcript.hpp"

namespace chansum::asr {

std::string JoinSegments(const std::vector<Segment>& segments) {
  std::string out;
  for (const auto& s : segments) {
    if (s.text.empty()) continue;
    if (!out.empty()) out += ' ';
    out += s.text;
  }
  return out;
}

nlohmann::json ToJson(const Transcript& transcript) {
  auto segments = nlohmann::json::array();
  for (const auto& s : transcript.segments) {
    segments.push_back({{"start", s.start}, {"end", s.end}, {"text", s.text}});
  }
  return {{"source", transcript.source},     {"engine", transcript.engine},
          {"language", transcript.language}, {"segments", std::move(segments)},
          {"text", transcript.text},         {"audio_seconds", transcript.audio_seconds}};
}

namespace {

Error Bad(const std::string& what) {
  return Error::Permanent("bad_transcript", "malformed transcript document: " + what);
}

}  // namespace

Result<Transcript> TranscriptFromJson(const nlohmann::json& doc) {
  if (!doc.is_object()) return Bad("not an object");
  Transcript t;
  auto get_string = [&](const char* key, std::string& out, bool required) -> bool {
    auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) return !required;
    if (!it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  if (!get_string("source", t.source, true)) return Bad("\"source\" must be a string");
  if (!get_string("engine", t.engine, false)) return Bad("\"engine\" must be a string");
  if (!get_string("language", t.language, false)) return Bad("\"language\" must be a string");

  auto segs = doc.find("segments");
  if (segs == doc.end() || !segs->is_array()) return Bad("\"segments\" must be an array");
  for (std::size_t i = 0; i < segs->size(); ++i) {
    const auto& s = (*segs)[i];
    const std::string where = "segments[" + std::to_string(i) + "]";
    if (!s.is_object()) return Bad(where + " is not an object");
    auto start = s.find("start");
    auto end = s.find("end");
    auto text = s.find("text");
    if (start == s.end() || !start->is_number()) return Bad(where + ".start must be a number");
    if (end == s.end() || !end->is_number()) return Bad(where + ".end must be a number");
    if (text == s.end() || !text->is_string()) return Bad(where + ".text must be a string");
    t.segments.push_back({start->get<double>(), end->get<double>(), text->get<std::string>()});
  }

  if (auto it = doc.find("text"); it != doc.end() && !it->is_null()) {
    if (!it->is_string()) return Bad("\"text\" must be a string");
    t.text = it->get<std::string>();
  } else {
    t.text = JoinSegments(t.segments);
  }
  if (auto it = doc.find("audio_seconds"); it != doc.end() && !it->is_null()) {
    if (!it->is_number()) return Bad("\"audio_seconds\" must be a number");
    t.audio_seconds = it->get<double>();
  } else if (!t.segments.empty()) {
    t.audio_seconds = t.segments.back().end;
  }
  return t;
}

}  // namespace chansum::asr
