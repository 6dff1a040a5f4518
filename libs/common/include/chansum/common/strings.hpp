#pragma once
// ASCII string helpers shared by the parsers (URLs, headers, captions, channel input) and hex
// encoding (digests, cursors, dead-letter records).
#include <cctype>
#include <string>
#include <string_view>

namespace chansum {

// `s` with A-Z turned into a-z (bytes beyond ASCII unchanged).
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether `s` starts with `lower_prefix` ignoring ASCII case; `lower_prefix` must be lower case.
inline bool StartsWithNoCase(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != lower_prefix[i]) return false;
  }
  return true;
}

// `s` without leading and trailing whitespace (space, \t, \n, \v, \f, \r).
inline std::string_view TrimWhitespace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

// `bytes` as lower-case hex, two digits per byte.
inline std::string HexLower(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

}  // namespace chansum
