#pragma once
// Proper nouns a transcript should capitalise ("neil armstrong" -> "Neil Armstrong", "nasa" ->
// "NASA"), taken from a spelling word list such as Debian's wamerican
// (/usr/share/dict/american-english): a word the list spells only with capitals is a proper noun; a
// word it also lists in lower case ("may", "bill", "earth", "turkey") is left as spoken.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace chansum::text {

class ProperNouns {
 public:
  // One word per line; blank lines, and words under three letters ("Al", "Ed"), are skipped.
  // Pure: no I/O.
  [[nodiscard]] static ProperNouns FromWordList(std::string_view words);

  // The proper-noun spelling of a lower-case word ("armstrong" -> "Armstrong", "armstrong's" ->
  // "Armstrong's"), or null.
  [[nodiscard]] const std::string* Find(std::string_view lowercase_word) const;
  [[nodiscard]] std::size_t size() const { return by_lower_.size(); }

 private:
  std::unordered_map<std::string, std::string> by_lower_;
};

// Reads a word list file (the one exception to this library's "no I/O": it runs once, at start).
// Empty path: nullptr without an error (capitalisation of proper nouns is off). A file that cannot
// be read: nullptr and *error says why.
[[nodiscard]] std::shared_ptr<const ProperNouns> LoadProperNouns(const std::string& path,
                                                                 std::string* error);

// Debian's wamerican list, which deploy/local/setup and the Dockerfiles install.
inline constexpr const char* kDefaultWordList = "/usr/share/dict/american-english";

// The TEXT_PROPER_NOUNS setting (the orchestrator's txt and the summarizer read it): unset, the
// default list, whose absence is only a warning (capitalisation of proper nouns is then off);
// "" off; a path, that list, whose absence is an error (a configuration mistake).
struct ProperNounsSetting {
  std::shared_ptr<const ProperNouns> nouns;
  std::string error;    // a configuration problem
  std::string warning;  // worth a log line
};
[[nodiscard]] ProperNounsSetting LoadProperNounsSetting(const std::optional<std::string>& value);

}  // namespace chansum::text
