#include "chansum/media/webvtt.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <optional>

#include "chansum/common/strings.hpp"

namespace chansum::media {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "hh:mm:ss.ttt" or "mm:ss.ttt" (hours may have more than two digits). Advances `s`.
std::optional<double> ParseTimestamp(std::string_view& s) {
  // 64-bit: a field has at most 10 digits, so it never wraps (an int did: 2147483648 hours became
  // negative times; found by vtt_fuzz).
  long long fields[3] = {0, 0, 0};
  int count = 0;
  std::size_t i = 0;
  while (true) {
    if (count >= 3) return std::nullopt;
    const std::size_t begin = i;
    long long value = 0;
    while (i < s.size() && IsDigit(s[i]) && i - begin < 10) value = value * 10 + (s[i++] - '0');
    if (i == begin) return std::nullopt;
    fields[count++] = value;
    if (i < s.size() && s[i] == ':') {
      ++i;
      continue;
    }
    break;
  }
  if (count < 2 || i >= s.size() || (s[i] != '.' && s[i] != ',')) return std::nullopt;
  ++i;
  const std::size_t frac_begin = i;
  double frac = 0;
  double scale = 0.1;
  while (i < s.size() && IsDigit(s[i])) {
    frac += (s[i++] - '0') * scale;
    scale /= 10;
  }
  if (i == frac_begin) return std::nullopt;
  const long long hours = count == 3 ? fields[0] : 0;
  const long long minutes = fields[count - 2];
  const long long seconds = fields[count - 1];
  if (minutes > 59 || seconds > 59) return std::nullopt;
  s.remove_prefix(i);
  return static_cast<double>(hours) * 3600.0 + static_cast<double>(minutes) * 60.0 +
         static_cast<double>(seconds) + frac;
}

// "<start> --> <end> [settings]".
std::optional<std::pair<double, double>> ParseTiming(std::string_view line) {
  line = TrimWhitespace(line);
  auto start = ParseTimestamp(line);
  if (!start) return std::nullopt;
  line = TrimWhitespace(line);
  if (line.substr(0, 3) != "-->") return std::nullopt;
  line.remove_prefix(3);
  line = TrimWhitespace(line);
  auto end = ParseTimestamp(line);
  if (!end) return std::nullopt;
  if (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())) == 0) {
    return std::nullopt;  // "00:01.000junk"
  }
  return std::make_pair(*start, std::max(*start, *end));
}

void AppendUtf8(std::string& out, unsigned long cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes the entity at s[i] == '&' into `out`; returns the characters consumed (0: not one).
std::size_t DecodeEntity(std::string_view s, std::size_t i, std::string& out) {
  const auto semi = s.find(';', i);
  if (semi == std::string_view::npos || semi - i > 10) return 0;
  const std::string_view name = s.substr(i + 1, semi - i - 1);
  static constexpr std::pair<std::string_view, std::string_view> kNamed[] = {
      {"amp", "&"},  {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"},
      {"nbsp", " "}, {"lrm", ""}, {"rlm", ""}, {"#39", "'"},   {"hellip", "\xE2\x80\xA6"},
  };
  for (const auto& [n, v] : kNamed) {
    if (name == n) {
      out.append(v);
      return semi - i + 1;
    }
  }
  if (name.size() >= 2 && name[0] == '#') {
    unsigned long cp = 0;
    const bool hex = name[1] == 'x' || name[1] == 'X';
    const std::string_view digits = name.substr(hex ? 2 : 1);
    if (digits.empty() || digits.size() > 7) return 0;
    for (char c : digits) {
      int d = -1;
      if (IsDigit(c))
        d = c - '0';
      else if (hex && c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (hex && c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      if (d < 0) return 0;
      cp = cp * (hex ? 16 : 10) + static_cast<unsigned long>(d);
    }
    AppendUtf8(out, cp);
    return semi - i + 1;
  }
  return 0;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find_first_of("\r\n", pos);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(pos));
      break;
    }
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
    if (text[nl] == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
  }
  return lines;
}

bool StartsWithWord(std::string_view line, std::string_view word) {
  return line.substr(0, word.size()) == word &&
         (line.size() == word.size() || line[word.size()] == ' ' || line[word.size()] == '\t');
}

std::vector<std::string_view> SplitSpaces(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// The start of each word of `raw` (a cue text line) from its inline timestamps; empty when it has
// none or its words do not match `cleaned` (the line as CleanCueText gives it).
std::vector<double> WordStarts(std::string_view raw, const std::string& cleaned, double cue_start) {
  std::vector<double> starts;
  double now = cue_start;
  bool timed = false;
  std::size_t i = 0;
  while (i < raw.size()) {
    const auto open = raw.find('<', i);
    const std::string_view chunk = raw.substr(i, open == std::string_view::npos ? open : open - i);
    for (std::size_t k = 0; k < SplitSpaces(CleanCueText(chunk)).size(); ++k) starts.push_back(now);
    if (open == std::string_view::npos) break;
    const auto close = raw.find('>', open);
    if (close == std::string_view::npos) break;
    std::string_view tag = raw.substr(open + 1, close - open - 1);
    if (auto t = ParseTimestamp(tag); t && tag.empty()) {
      now = std::max(now, *t);
      timed = true;
    }
    i = close + 1;
  }
  if (!timed || starts.size() != SplitSpaces(cleaned).size()) return {};
  return starts;
}

// A new line of captions as one or more segments, split where its word timestamps show a pause.
void PushLine(const CaptionCue& cue, std::size_t line, std::vector<CaptionSegment>& segments) {
  const std::string& text = cue.lines[line];
  const std::vector<double>* starts =
      line < cue.word_starts.size() ? &cue.word_starts[line] : nullptr;
  const auto words = SplitSpaces(text);
  if (starts == nullptr || starts->size() != words.size() || words.size() < 2) {
    segments.push_back({cue.start, cue.end, text});
    return;
  }
  // Words that share a start (a timestamp before a group, "[ __ ]") are timed as one group.
  struct Group {
    std::size_t first;
    std::size_t last;  // inclusive
    double start;
    std::size_t chars;  // with a space after each word
  };
  std::vector<Group> groups;
  for (std::size_t k = 0; k < words.size(); ++k) {
    if (groups.empty() || (*starts)[k] > groups.back().start) {
      groups.push_back({k, k, (*starts)[k], 0});
    }
    groups.back().last = k;
    groups.back().chars += words[k].size() + 1;
  }
  if (groups.size() < 2) {
    segments.push_back({cue.start, cue.end, text});
    return;
  }
  // Seconds per character at this line's pace: the median over its groups.
  std::vector<double> pace;
  for (std::size_t g = 0; g + 1 < groups.size(); ++g) {
    pace.push_back((groups[g + 1].start - groups[g].start) / static_cast<double>(groups[g].chars));
  }
  std::nth_element(pace.begin(), pace.begin() + static_cast<std::ptrdiff_t>(pace.size() / 2),
                   pace.end());
  const double rate = pace[pace.size() / 2];
  auto join = [&](std::size_t from, std::size_t to) {
    std::string piece;
    for (std::size_t w = from; w <= to; ++w) {
      if (!piece.empty()) piece += ' ';
      piece += words[w];
    }
    return piece;
  };
  std::size_t from = 0;
  double from_start = cue.start;
  for (std::size_t g = 0; g + 1 < groups.size(); ++g) {
    const double spoken_end = groups[g].start + rate * static_cast<double>(groups[g].chars);
    if (groups[g + 1].start - spoken_end < kCaptionPauseSeconds) continue;
    segments.push_back({from_start, std::max(from_start, spoken_end), join(from, groups[g].last)});
    from = groups[g + 1].first;
    from_start = groups[g + 1].start;
  }
  segments.push_back({from_start, std::max(from_start, cue.end), join(from, words.size() - 1)});
}

}  // namespace

std::string CleanCueText(std::string_view text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') {
      const auto close = text.find('>', i);
      if (close == std::string_view::npos) break;  // an unterminated tag runs to the end
      i = close;
      decoded.push_back(' ');  // "word<00:00:01.000><c> next" keeps the words apart
      continue;
    }
    if (c == '&') {
      if (const auto used = DecodeEntity(text, i, decoded); used > 0) {
        i += used - 1;
        continue;
      }
    }
    decoded.push_back(c);
  }
  // Collapse whitespace (tags became spaces; "so <c> today</c>" must not read "so  today").
  std::string out;
  out.reserve(decoded.size());
  bool space = false;
  for (char c : decoded) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  // A tag between a word and its punctuation ("word</c>.") must not leave "word ." behind.
  std::string tidy;
  tidy.reserve(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == ' ' && i + 1 < out.size() &&
        (out[i + 1] == '.' || out[i + 1] == ',' || out[i + 1] == '!' || out[i + 1] == '?' ||
         out[i + 1] == ';' || out[i + 1] == ':') &&
        (i + 2 == out.size() || out[i + 2] == ' ')) {
      continue;
    }
    tidy.push_back(out[i]);
  }
  return tidy;
}

Result<std::vector<CaptionCue>> ParseWebVtt(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  if (text.substr(0, 6) != "WEBVTT" || (text.size() > 6 && text[6] != ' ' && text[6] != '\t' &&
                                        text[6] != '\n' && text[6] != '\r')) {
    return Error::Permanent("invalid_webvtt", "not a WebVTT file (no WEBVTT signature)");
  }
  const auto lines = SplitLines(text);
  std::vector<CaptionCue> cues;
  std::size_t i = 1;
  // The header runs to the first empty line.
  while (i < lines.size() && !lines[i].empty()) ++i;
  while (i < lines.size()) {
    // One block: up to the next empty line.
    while (i < lines.size() && lines[i].empty()) ++i;
    const std::size_t begin = i;
    while (i < lines.size() && !lines[i].empty()) ++i;
    const std::size_t end = i;
    if (begin == end) break;
    const std::string_view first = lines[begin];
    if (StartsWithWord(first, "NOTE") || StartsWithWord(first, "STYLE") ||
        StartsWithWord(first, "REGION")) {
      continue;
    }
    // The timing line is the first or (after a cue identifier) the second line of the block.
    std::size_t timing_at = begin;
    if (first.find("-->") == std::string_view::npos) timing_at = begin + 1;
    if (timing_at >= end) continue;
    auto timing = ParseTiming(lines[timing_at]);
    if (!timing) continue;
    CaptionCue cue;
    cue.start = timing->first;
    cue.end = timing->second;
    for (std::size_t k = timing_at + 1; k < end; ++k) {
      auto cleaned = CleanCueText(lines[k]);
      if (cleaned.empty()) continue;
      auto starts = WordStarts(lines[k], cleaned, cue.start);
      if (!starts.empty()) {
        cue.word_starts.resize(cue.lines.size());
        cue.word_starts.push_back(std::move(starts));
      }
      cue.lines.push_back(std::move(cleaned));
    }
    cues.push_back(std::move(cue));
  }
  return cues;
}

std::vector<CaptionSegment> CaptionSegments(const std::vector<CaptionCue>& cues) {
  constexpr std::size_t kWindow = 2;  // lines on screen at once in rolling captions
  std::vector<CaptionSegment> segments;
  std::deque<std::string> recent;
  for (const auto& cue : cues) {
    for (std::size_t index = 0; index < cue.lines.size(); ++index) {
      const std::string& line = cue.lines[index];
      if (std::find(recent.begin(), recent.end(), line) != recent.end()) continue;
      if (!segments.empty() && !recent.empty() && recent.back() == segments.back().text &&
          line.size() > segments.back().text.size() &&
          line.compare(0, segments.back().text.size() + 1, segments.back().text + " ") == 0) {
        // The previous line growing word by word: keep the longest version.
        segments.back().text = line;
        segments.back().end = std::max(segments.back().end, cue.end);
        recent.back() = line;
        continue;
      }
      PushLine(cue, index, segments);
      recent.push_back(line);
      if (recent.size() > kWindow) recent.pop_front();
    }
  }
  return segments;
}

Result<std::vector<CaptionSegment>> ParseCaptionSegments(std::string_view text) {
  auto cues = ParseWebVtt(text);
  if (!cues.ok()) return std::move(cues).error();
  return CaptionSegments(*cues);
}

}  // namespace chansum::media
