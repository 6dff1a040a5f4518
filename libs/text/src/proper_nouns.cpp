#include "chansum/text/proper_nouns.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>
#include <unordered_set>

#include "chansum/common/strings.hpp"

namespace chansum::text {
namespace {

bool HasUpper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isupper(c) != 0; });
}

}  // namespace

ProperNouns ProperNouns::FromWordList(std::string_view words) {
  ProperNouns out;
  std::unordered_set<std::string> lower_case;  // words the list also spells in lower case
  std::size_t pos = 0;
  while (pos < words.size()) {
    auto end = words.find('\n', pos);
    if (end == std::string_view::npos) end = words.size();
    std::string_view word = words.substr(pos, end - pos);
    pos = end + 1;
    while (!word.empty() && std::isspace(static_cast<unsigned char>(word.back())) != 0) {
      word.remove_suffix(1);
    }
    const auto letters = std::count_if(word.begin(), word.end(),
                                       [](unsigned char c) { return std::isalpha(c) != 0; });
    if (letters < 3) continue;
    if (HasUpper(word)) {
      out.by_lower_.emplace(AsciiLower(word), std::string(word));
    } else {
      lower_case.emplace(word);
    }
  }
  std::erase_if(out.by_lower_, [&](const auto& kv) { return lower_case.count(kv.first) > 0; });
  return out;
}

const std::string* ProperNouns::Find(std::string_view lowercase_word) const {
  const auto it = by_lower_.find(std::string(lowercase_word));
  return it == by_lower_.end() ? nullptr : &it->second;
}

std::shared_ptr<const ProperNouns> LoadProperNouns(const std::string& path, std::string* error) {
  if (path.empty()) return nullptr;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  if (in) contents << in.rdbuf();
  if (!in || in.bad()) {
    if (error != nullptr) *error = path + ": " + std::generic_category().message(errno);
    return nullptr;
  }
  return std::make_shared<const ProperNouns>(ProperNouns::FromWordList(contents.str()));
}

ProperNounsSetting LoadProperNounsSetting(const std::optional<std::string>& value) {
  ProperNounsSetting out;
  std::string error;
  out.nouns = LoadProperNouns(value.value_or(kDefaultWordList), &error);
  if (error.empty()) return out;
  (value ? out.error : out.warning) =
      "TEXT_PROPER_NOUNS: " + error +
      (value ? std::string()
             : " (proper nouns stay lower case: install Debian's wamerican, or set "
               "TEXT_PROPER_NOUNS= to turn this off)");
  return out;
}

}  // namespace chansum::text
