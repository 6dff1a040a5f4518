// CleanText and DescribeFailure: a failed run as the one line recorded as a video's last_error.
#include <signal.h>
#include <string.h>

#include <fmt/format.h>

#include "chansum/media/process.hpp"

namespace chansum::media {
namespace {

std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev != nullptr) return std::string("SIG") + abbrev;
  return std::to_string(sig);
}

}  // namespace

std::string CleanText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b) {
      // ANSI escape: ESC '[' params final-byte, or ESC + one char.
      ++i;
      if (i < text.size() && text[i] == '[') {
        ++i;
        while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7e)) ++i;
      }
      if (i < text.size()) ++i;
      continue;
    }
    if (c < 0x80) {
      if (c == '\r') {
        out.push_back('\n');
      } else if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f)) {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Multi-byte UTF-8: validate the sequence (no overlongs, no surrogates, <= U+10FFFF).
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    }
    bool valid = len > 0 && i + len <= text.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      const unsigned min = k == 1 ? lo : 0x80;
      const unsigned max = k == 1 ? hi : 0xbf;
      if (b < min || b > max) valid = false;
    }
    if (valid) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  // Trim whitespace and collapse runs of blank lines.
  std::string collapsed;
  collapsed.reserve(out.size());
  int newlines = 0;
  for (char ch : out) {
    if (ch == '\n') {
      if (++newlines > 1) continue;
    } else {
      newlines = 0;
    }
    collapsed.push_back(ch);
  }
  const auto first = collapsed.find_first_not_of(" \t\n");
  if (first == std::string::npos) return {};
  const auto last = collapsed.find_last_not_of(" \t\n");
  return collapsed.substr(first, last - first + 1);
}

std::string DescribeFailure(const ProcessResult& result, std::string_view program) {
  const double seconds = static_cast<double>(result.duration.count()) / 1000.0;
  std::string what;
  if (result.timed_out) {
    what = fmt::format("{} timed out after {:.1f} s", program, seconds);
  } else if (result.canceled) {
    what = fmt::format("{} was stopped after {:.1f} s (service shutting down)", program, seconds);
  } else if (result.term_signal != 0) {
    what = fmt::format("{} was killed by signal {} ({})", program, result.term_signal,
                       SignalName(result.term_signal));
  } else if (result.exit_code != 0) {
    what = fmt::format("{} exited with code {}", program, result.exit_code);
  } else {
    what = fmt::format("{} succeeded", program);
  }
  std::string tail = result.stderr_tail;
  if (result.stderr_truncated) {
    // Start at a line boundary when one is near, and say that the start is cut.
    const auto nl = tail.find('\n');
    if (nl != std::string::npos && nl < tail.size() / 2) tail.erase(0, nl + 1);
  }
  tail = CleanText(tail);
  if (tail.empty()) return what;
  return what + ": " + (result.stderr_truncated ? "..." : "") + tail;
}

}  // namespace chansum::media
