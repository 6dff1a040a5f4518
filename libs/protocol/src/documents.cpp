#include "chansum/protocol/documents.hpp"

#include <utility>

namespace chansum::protocol {

std::string JoinSegments(const std::vector<TranscriptSegment>& segments) {
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

nlohmann::json ToJson(const Summary& summary) {
  nlohmann::json doc = {{"summary", summary.summary},
                        {"key_points", summary.key_points},
                        {"engine", summary.engine},
                        {"model", summary.model}};
  if (summary.usage) {
    doc["usage"] = {{"prompt_tokens", summary.usage->prompt_tokens},
                    {"completion_tokens", summary.usage->completion_tokens},
                    {"total_tokens", summary.usage->total_tokens},
                    {"calls", summary.usage->calls}};
  }
  if (summary.chunks) doc["chunks"] = *summary.chunks;
  if (!summary.requested_model.empty()) doc["requested_model"] = summary.requested_model;
  return doc;
}

Result<Summary> SummaryFromJson(const nlohmann::json& doc) {
  auto bad = [](const std::string& why) {
    return Error::Permanent("bad_summary", "malformed summary document: " + why);
  };
  if (!doc.is_object()) return bad("not an object");
  Summary s;
  auto it = doc.find("summary");
  if (it == doc.end() || !it->is_string()) return bad("\"summary\" must be a string");
  s.summary = it->get<std::string>();
  it = doc.find("key_points");
  if (it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return bad("\"key_points\" must be an array of strings");
    for (const auto& k : *it) {
      if (!k.is_string()) return bad("\"key_points\" must be an array of strings");
      s.key_points.push_back(k.get<std::string>());
    }
  }
  for (auto [key, field] : {std::pair{"engine", &s.engine}, std::pair{"model", &s.model},
                            std::pair{"requested_model", &s.requested_model}}) {
    it = doc.find(key);
    if (it == doc.end() || it->is_null()) continue;
    if (!it->is_string()) return bad(std::string("\"") + key + "\" must be a string");
    *field = it->get<std::string>();
  }
  auto count = [&](const nlohmann::json& v, std::int64_t& out) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0) return false;
    out = v.get<std::int64_t>();
    return true;
  };
  it = doc.find("chunks");
  if (it != doc.end() && !it->is_null()) {
    s.chunks = 0;
    if (!count(*it, *s.chunks)) return bad("\"chunks\" must be an integer >= 0");
  }
  it = doc.find("usage");
  if (it != doc.end() && !it->is_null()) {
    if (!it->is_object()) return bad("\"usage\" must be an object");
    SummaryUsage u;
    for (auto [key, field] :
         {std::pair{"prompt_tokens", &u.prompt_tokens},
          std::pair{"completion_tokens", &u.completion_tokens},
          std::pair{"total_tokens", &u.total_tokens}, std::pair{"calls", &u.calls}}) {
      auto v = it->find(key);
      if (v == it->end() || !count(*v, *field)) {
        return bad(std::string("\"usage.") + key + "\" must be an integer >= 0");
      }
    }
    s.usage = u;
  }
  return s;
}

}  // namespace chansum::protocol
