// transcript, summary: a video's documents as the API renders them.
#include <ostream>
#include <set>

#include "commands.hpp"

namespace chansum::cli {
namespace {

using nlohmann::json;

int Document(Session& s, const std::string& what) {
  const bool transcript = what == "transcript";
  const std::string format = s.Flag("format", transcript ? "txt" : "md");
  const std::set<std::string> allowed = transcript
                                            ? std::set<std::string>{"txt", "srt", "vtt", "json"}
                                            : std::set<std::string>{"md", "json"};
  if (allowed.count(format) == 0) {
    return s.Fail(kExitUsage, "--format must be one of " +
                                  std::string(transcript ? "txt, srt, vtt, json" : "md, json"));
  }
  const std::string path =
      "/videos/" + Segment(s.opts.args[0]) + "/" + what + "?format=" + Segment(format);
  auto r = s.client.Get(path);
  if (!r.ok() || r->status != 200) return s.FailResponse(r);
  const bool got_json = r->content_type.find("application/json") != std::string::npos;
  if (format == "json" || !got_json) {
    s.out << r->body;
    if (!r->body.empty() && r->body.back() != '\n') s.out << "\n";
    return kExitOk;
  }
  // An API without ?format= support answers JSON: render the text form here.
  auto j = json::parse(r->body, nullptr, false);
  if (!j.is_object()) return s.Fail(kExitUnavailable, "the API answered with invalid JSON");
  if (transcript) {
    if (format != "txt") {
      return s.Fail(kExitApiError, "this API does not serve transcripts as " + format);
    }
    s.out << j.value("text", "") << "\n";
  } else {
    s.out << "# Summary of " << s.opts.args[0] << "\n\n" << j.value("summary", "") << "\n";
    if (j.contains("key_points") && j["key_points"].is_array() && !j["key_points"].empty()) {
      s.out << "\n## Key points\n\n";
      for (const auto& k : j["key_points"]) {
        if (k.is_string()) s.out << "- " << k.get<std::string>() << "\n";
      }
    }
  }
  return kExitOk;
}

}  // namespace

int Transcript(Session& s) { return Document(s, "transcript"); }

int Summary(Session& s) { return Document(s, "summary"); }

}  // namespace chansum::cli
