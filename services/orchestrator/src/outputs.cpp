#include "outputs.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "chansum/common/strings.hpp"
#include "chansum/text/text.hpp"
#include "chansum/text/textrank.hpp"

namespace chansum::orchestrator {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

struct Cue {
  double start;
  double end;
  std::string text;
};

std::vector<Cue> Cues(const protocol::Transcript& transcript) {
  std::vector<Cue> cues;
  for (const auto& s : transcript.segments) {
    std::string text = s.text;
    // One cue is one line of text: newlines inside would end an SRT/VTT cue early.
    std::replace(text.begin(), text.end(), '\n', ' ');
    std::replace(text.begin(), text.end(), '\r', ' ');
    if (text.empty()) continue;
    const double start = std::max(0.0, s.start);
    cues.push_back({start, std::max(start, s.end), text});
  }
  return cues;
}

// "-->" inside cue text would read as a timing line.
std::string CueSafe(std::string text) {
  for (auto pos = text.find("-->"); pos != std::string::npos; pos = text.find("-->", pos)) {
    text.replace(pos, 3, "->");
  }
  return text;
}

std::string OneLine(std::string text, std::size_t max_chars) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  if (text.size() <= max_chars) return text;
  auto cut = text.rfind(' ', max_chars);
  if (cut == std::string::npos || cut < max_chars / 2) cut = max_chars;
  // Do not cut a UTF-8 sequence in half.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

// Markdown-escape what would otherwise turn text into markup at the start of a line or inline.
std::string MdEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '_' || c == '`' || c == '[' || c == ']' || c == '#' || c == '<' ||
        c == '>' || c == '|') {
      out.push_back('\\');
    }
    out.push_back(c == '\n' ? ' ' : c);
  }
  return out;
}

std::string FirstSentence(const std::string& summary) {
  auto sentences = text::SplitSentences(summary);
  return sentences.empty() ? summary : sentences.front();
}

}  // namespace

std::string FormatCueTime(double seconds, char decimal_separator) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const auto total_ms = static_cast<long long>(std::llround(seconds * 1000.0));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld%c%03lld", total_ms / 3600000,
                (total_ms / 60000) % 60, (total_ms / 1000) % 60, decimal_separator,
                total_ms % 1000);
  return buf;
}

std::string TranscriptAsText(const protocol::Transcript& transcript) {
  const auto cues = Cues(transcript);
  if (cues.empty()) {
    return transcript.text.empty() ? std::string() : transcript.text + "\n";
  }
  std::string out;
  for (const auto& c : cues) out += c.text + "\n";
  return out;
}

std::string TranscriptAsSrt(const protocol::Transcript& transcript) {
  std::string out;
  int n = 0;
  for (const auto& c : Cues(transcript)) {
    out += std::to_string(++n) + "\n" + FormatCueTime(c.start, ',') + " --> " +
           FormatCueTime(c.end, ',') + "\n" + CueSafe(c.text) + "\n\n";
  }
  return out;
}

std::string TranscriptAsVtt(const protocol::Transcript& transcript) {
  std::string out = "WEBVTT\n";
  const std::string& language = transcript.language;
  if (!language.empty() && language.find_first_of("\r\n") == std::string::npos) {
    out += "Language: " + language + "\n";
  }
  out += "\n";
  for (const auto& c : Cues(transcript)) {
    out += FormatCueTime(c.start, '.') + " --> " + FormatCueTime(c.end, '.') + "\n" +
           CueSafe(c.text) + "\n\n";
  }
  return out;
}

std::string SummaryAsMarkdown(const protocol::Summary& summary, const std::string& title) {
  std::string out = "# " + MdEscape(title.empty() ? "Summary" : title) + "\n\n";
  out +=
      (summary.summary.empty() ? std::string("(empty summary)") : MdEscape(summary.summary)) + "\n";
  if (!summary.key_points.empty()) {
    out += "\n## Key points\n\n";
    for (const auto& p : summary.key_points) out += "- " + MdEscape(p) + "\n";
  }
  std::string engine = summary.engine;
  const std::string& model = summary.model;
  if (!model.empty()) engine += (engine.empty() ? "" : ", ") + model;
  if (!engine.empty()) out += "\n_Summarized by " + MdEscape(engine) + "._\n";
  return out;
}

std::string VideoMarkdown(const json& video, const std::optional<protocol::Summary>& summary,
                          const std::optional<protocol::Transcript>& transcript) {
  std::string title = Str(video, "title");
  if (title.empty()) title = Str(video, "video_id");
  std::string out;
  if (summary) {
    out = SummaryAsMarkdown(*summary, title);
  } else {
    out = "# " + MdEscape(title) + "\n\n(no summary";
    const std::string state = Str(video, "state");
    if (!state.empty()) out += ": video " + state;
    const std::string error = Str(video, "last_error");
    if (!error.empty()) out += " - " + MdEscape(OneLine(error, 300));
    out += ")\n";
  }
  const std::string url = Str(video, "url");
  out += "\n- Video: `" + Str(video, "video_id") + "`\n";
  if (!url.empty()) out += "- Link: <" + url + ">\n";
  const std::string published = Str(video, "published_at");
  if (!published.empty()) out += "- Published: " + published + "\n";
  if (transcript) {
    const std::string& source = transcript->source;
    out += "\n## Transcript";
    if (!source.empty()) out += " (" + MdEscape(source) + ")";
    out += "\n\n";
    const std::string text = TranscriptAsText(*transcript);
    out += text.empty() ? std::string("(empty)\n") : MdEscape(text) + "\n";
  }
  return out;
}

json BuildDigest(const json& job_view,
                 const std::map<std::string, protocol::Summary>& summaries_by_video,
                 const std::string& generated_at) {
  json digest;
  digest["job_id"] = Str(job_view, "job_id");
  digest["channel"] = Str(job_view, "channel");
  digest["state"] = Str(job_view, "state");
  digest["generated_at"] = generated_at;

  // Key phrases shared by several videos first, then TextRank's over all summaries.
  std::map<std::string, std::set<std::string>> videos_by_term;
  std::map<std::string, std::string> spelling;
  std::vector<std::string> all_sentences;
  json lines = json::array();
  int summarized = 0;
  const auto videos = job_view.find("videos");
  if (videos != job_view.end() && videos->is_array()) {
    for (const auto& v : *videos) {
      const std::string id = Str(v, "video_id");
      std::string title = Str(v, "title");
      if (title.empty()) title = id;
      json line = {
          {"video_id", id}, {"title", title}, {"state", Str(v, "state")}, {"summarized", false}};
      const auto s = summaries_by_video.find(id);
      if (s != summaries_by_video.end()) {
        ++summarized;
        line["summarized"] = true;
        const std::string& summary = s->second.summary;
        line["line"] = OneLine(FirstSentence(summary), 240);
        for (auto& sentence : text::SplitSentences(summary)) {
          all_sentences.push_back(std::move(sentence));
        }
        for (const auto& p : s->second.key_points) {
          if (p.empty()) continue;
          const auto key = AsciiLower(p);
          videos_by_term[key].insert(id);
          spelling.emplace(key, p);
        }
      } else {
        const std::string error = Str(v, "last_error");
        line["line"] = Str(v, "state") == "failed"
                           ? "failed" + (error.empty() ? std::string() : ": " + OneLine(error, 200))
                           : std::string("no summary");
      }
      lines.push_back(std::move(line));
    }
  }
  constexpr std::size_t kMaxThemes = 8;
  std::vector<std::pair<std::string, std::size_t>> shared;
  for (const auto& [term, ids] : videos_by_term) {
    if (ids.size() >= 2) shared.emplace_back(term, ids.size());
  }
  std::stable_sort(shared.begin(), shared.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  json themes = json::array();
  std::set<std::string> taken;
  for (const auto& [term, count] : shared) {
    if (themes.size() >= kMaxThemes) break;
    themes.push_back({{"term", spelling[term]}, {"videos", count}});
    taken.insert(term);
  }
  if (!all_sentences.empty() && themes.size() < kMaxThemes) {
    for (const auto& p : text::KeyPhrases(all_sentences, static_cast<int>(kMaxThemes))) {
      if (themes.size() >= kMaxThemes) break;
      const auto key = AsciiLower(p);
      if (!taken.insert(key).second) continue;
      const auto it = videos_by_term.find(key);
      themes.push_back(
          {{"term", p}, {"videos", it == videos_by_term.end() ? 1 : it->second.size()}});
    }
  }
  digest["themes"] = std::move(themes);
  digest["video_count"] = lines.size();
  digest["summarized"] = summarized;
  digest["videos"] = std::move(lines);
  return digest;
}

std::string DigestAsMarkdown(const json& digest) {
  std::string out = "# Channel digest: " + MdEscape(Str(digest, "channel")) + "\n\n";
  out += "Job `" + Str(digest, "job_id") + "` (" + Str(digest, "state") + "), " +
         std::to_string(digest.value("summarized", 0)) + " of " +
         std::to_string(digest.value("video_count", 0)) + " videos summarized.\n\n";
  out += "## Recurring themes\n\n";
  const auto themes = digest.find("themes");
  if (themes == digest.end() || !themes->is_array() || themes->empty()) {
    out += "(none found)\n";
  } else {
    for (const auto& t : *themes) {
      const auto n = t.value("videos", 0);
      out += "- " + MdEscape(Str(t, "term")) + " (" + std::to_string(n) +
             (n == 1 ? " video)\n" : " videos)\n");
    }
  }
  out += "\n## Videos\n\n";
  const auto videos = digest.find("videos");
  if (videos != digest.end() && videos->is_array()) {
    for (const auto& v : *videos) {
      out += "- **" + MdEscape(Str(v, "title")) + "**: " + MdEscape(Str(v, "line")) + "\n";
    }
  }
  return out;
}

std::string ExportFileName(int position, const std::string& video_id) {
  std::string safe;
  for (char c : video_id.substr(0, 80)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    safe.push_back(ok ? c : '_');
  }
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%02d-", position);
  return prefix + safe + ".md";
}

}  // namespace chansum::orchestrator
