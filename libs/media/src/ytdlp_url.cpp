#include "ytdlp_url.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "chansum/media/ytdlp.hpp"
#include "strings.hpp"

namespace chansum::media {
namespace {

constexpr std::size_t kMaxIdLength = 64;

}  // namespace

bool IsHttpUrl(std::string_view s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) != 0 &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2])) != 0) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::pair<std::string, std::string> Unsmuggle(std::string_view url) {
  constexpr std::string_view kMarker = "#__youtubedl_smuggle=";
  const auto pos = url.find(kMarker);
  if (pos == std::string_view::npos) return {std::string(url), {}};
  std::string id;
  const auto data =
      nlohmann::json::parse(PercentDecode(url.substr(pos + kMarker.size())), nullptr, false);
  if (data.is_object() && data.contains("force_videoid") && data["force_videoid"].is_string()) {
    id = data["force_videoid"].get<std::string>();
  }
  return {std::string(url.substr(0, pos)), id};
}

std::string IdFromUrl(std::string_view url) {
  auto end = url.find_first_of("?#");
  if (end == std::string_view::npos) end = url.size();
  std::string_view path = url.substr(0, end);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (const auto dot = base.rfind('.'); dot != std::string_view::npos && dot > 0) {
    base = base.substr(0, dot);
  }
  if (base.empty() || Contains(base, ":")) return fmt::format("u{:016x}", Fnv1a(url));
  return SanitizeId(PercentDecode(base));
}

std::string SanitizeId(std::string_view id) {
  const bool safe =
      !id.empty() && id.size() <= kMaxIdLength && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
      });
  if (safe) return std::string(id);
  std::string mapped;
  for (char c : id.substr(0, 47)) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
    mapped.push_back(ok ? c : '_');
  }
  if (mapped.empty()) mapped = "id";
  return fmt::format("{}-{:016x}", mapped, Fnv1a(id));
}

}  // namespace chansum::media
