#include "outputs.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "chansum/common/strings.hpp"
#include "chansum/text/readable.hpp"
#include "chansum/text/text.hpp"

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

std::string TranscriptAsText(const protocol::Transcript& transcript,
                             const text::ReadableOptions& readable) {
  // Readable sentences, one per line: ends from the pauses between segments (or the captions'
  // punctuation), capitalised, spoken numbers as digits where safe.
  std::vector<text::TimedText> pieces;
  for (const auto& c : Cues(transcript)) pieces.push_back({c.start, c.end, c.text});
  if (pieces.empty()) pieces.push_back({0, 0, transcript.text});
  std::string out;
  for (const auto& sentence : text::ReadableSentences(pieces, readable)) out += sentence + "\n";
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
                          const std::optional<protocol::Transcript>& transcript,
                          const text::ReadableOptions& readable) {
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
    const std::string text = TranscriptAsText(*transcript, readable);
    out += text.empty() ? std::string("(empty)\n") : MdEscape(text) + "\n";
  }
  return out;
}

namespace {

// How the videos of a job use one term (a key point, or a content word of a summary).
struct TermUse {
  std::set<std::string> videos;
  int occurrences = 0;
  std::map<std::string, int> spellings;  // as written inside sentences (not first words)
  std::string fallback;                  // as first written anywhere
};

std::string Spelling(const TermUse& use) {
  std::string best;
  int best_count = 0;
  for (const auto& [s, n] : use.spellings) {
    // On a tie, the lowercase spelling ("pollen" over "Pollen").
    if (n > best_count || (n == best_count && s == AsciiLower(s))) {
      best = s;
      best_count = n;
    }
  }
  return best.empty() ? AsciiLower(use.fallback) : best;
}

}  // namespace

json BuildDigest(const json& job_view,
                 const std::map<std::string, protocol::Summary>& summaries_by_video,
                 const std::string& generated_at) {
  json digest;
  digest["job_id"] = Str(job_view, "job_id");
  digest["channel"] = Str(job_view, "channel");
  digest["state"] = Str(job_view, "state");
  digest["generated_at"] = generated_at;

  // Themes are terms that recur across videos: key points shared by two or more videos first,
  // then content words (stemmed: "book" = "books") said in the summaries of two or more videos.
  std::map<std::string, TermUse> phrases;  // lowercase key point
  std::map<std::string, TermUse> words;    // text::Token::norm
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
        for (const auto& sentence : text::SplitSentences(summary)) {
          bool first = true;
          for (const auto& t : text::Tokenize(sentence)) {
            if (t.content) {
              auto& use = words[t.norm];
              use.videos.insert(id);
              ++use.occurrences;
              if (use.fallback.empty()) use.fallback = t.surface;
              if (!first) ++use.spellings[t.surface];
            }
            first = false;
          }
        }
        for (const auto& p : s->second.key_points) {
          if (p.empty()) continue;
          auto& use = phrases[AsciiLower(p)];
          use.videos.insert(id);
          ++use.occurrences;
          ++use.spellings[p];
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
  struct Candidate {
    std::string term;
    std::size_t videos;
    int occurrences;
    bool phrase;
    std::string key;
  };
  std::vector<Candidate> candidates;
  for (const auto& [key, use] : phrases) {
    if (use.videos.size() >= 2) {
      candidates.push_back({Spelling(use), use.videos.size(), use.occurrences, true, key});
    }
  }
  for (const auto& [key, use] : words) {
    if (use.videos.size() >= 2) {
      candidates.push_back({Spelling(use), use.videos.size(), use.occurrences, false, key});
    }
  }
  // More videos first, then key points before single words, then more occurrences.
  std::stable_sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    if (a.videos != b.videos) return a.videos > b.videos;
    if (a.phrase != b.phrase) return a.phrase;
    return a.occurrences > b.occurrences;
  });
  constexpr std::size_t kMaxThemes = 8;
  json themes = json::array();
  std::set<std::string> covered;  // word norms of the themes taken
  for (const auto& c : candidates) {
    if (themes.size() >= kMaxThemes) break;
    std::vector<std::string> norms;
    for (const auto& t : text::Tokenize(c.term)) {
      if (t.content) norms.push_back(t.norm);
    }
    if (norms.empty() && !c.phrase) continue;
    // A word of a theme already taken ("pollen" after "pollen grains") is not a theme again.
    if (std::any_of(norms.begin(), norms.end(),
                    [&](const std::string& n) { return covered.count(n) > 0; })) {
      continue;
    }
    covered.insert(norms.begin(), norms.end());
    themes.push_back({{"term", c.term}, {"videos", c.videos}});
  }
  if (themes.empty()) {
    digest["themes_note"] = summarized < 2 ? "fewer than two videos summarized: no theme can recur"
                                           : "no theme recurs in two or more videos";
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
    const std::string note = Str(digest, "themes_note");
    out += "(" + MdEscape(note.empty() ? "no theme recurs in two or more videos" : note) + ")\n";
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
