#include "job_request.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <regex>

#include <nlohmann/json.hpp>

#include "chansum/media/channel.hpp"
#include "chansum/media/subtitles.hpp"

namespace chansum::orchestrator {

using nlohmann::json;

std::optional<std::string> NormalizePublishedAfter(const std::string& text) {
  static const std::regex date_pattern(R"(^(\d{4})-(\d{2})-(\d{2})(T(\d{2}):(\d{2}):(\d{2})Z)?$)");
  std::smatch m;
  if (!std::regex_match(text, m, date_pattern)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  if (m[4].matched) {
    tm.tm_hour = std::stoi(m[5]);
    tm.tm_min = std::stoi(m[6]);
    tm.tm_sec = std::stoi(m[7]);
  }
  const std::tm given = tm;
  const std::time_t t = timegm(&tm);
  // timegm normalizes out-of-range fields (Feb 30 -> Mar 2): a change means an invalid date.
  if (t == static_cast<std::time_t>(-1) || tm.tm_year != given.tm_year ||
      tm.tm_mon != given.tm_mon || tm.tm_mday != given.tm_mday || tm.tm_hour != given.tm_hour ||
      tm.tm_min != given.tm_min || tm.tm_sec != given.tm_sec || tm.tm_year < 0) {
    return std::nullopt;
  }
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf);
}

Result<JobRequest> ParseJobRequest(const std::string& body) {
  auto bad = [](const std::string& code, const std::string& msg) {
    return Error::Permanent(code, msg);
  };
  if (body.size() > kMaxBodyBytes) {
    return bad("payload_too_large", "request body is larger than 64 KiB");
  }
  auto j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("invalid_json", "request body is not valid JSON");
  if (!j.is_object()) return bad("invalid_request", "request body must be a JSON object");
  for (const auto& [key, _] : j.items()) {
    if (key != "channel" && key != "max_videos" && key != "published_after" &&
        key != "max_duration_s" && key != "caption_languages") {
      return bad("unknown_field", "unknown field \"" + key +
                                      "\" (allowed: channel, max_videos, published_after, "
                                      "max_duration_s, caption_languages)");
    }
  }
  if (!j.contains("channel")) return bad("missing_field", "field \"channel\" is required");
  if (!j["channel"].is_string()) return bad("invalid_type", "field \"channel\" must be a string");
  JobRequest req;
  req.channel = j["channel"].get<std::string>();
  if (j.contains("max_videos")) {
    const auto& m = j["max_videos"];
    if (!m.is_number_integer()) {
      return bad("invalid_type", "field \"max_videos\" must be an integer");
    }
    // An unsigned value above INT64_MAX would wrap to a negative long long: compare unsigned.
    const bool in_range =
        m.is_number_unsigned()
            ? m.get<unsigned long long>() >= 1 && m.get<unsigned long long>() <= kMaxMaxVideos
            : m.get<long long>() >= 1 && m.get<long long>() <= kMaxMaxVideos;
    if (!in_range) {
      return bad("invalid_value",
                 "field \"max_videos\" must be between 1 and " + std::to_string(kMaxMaxVideos));
    }
    req.max_videos = m.get<int>();
  }
  if (j.contains("published_after")) {
    const auto& p = j["published_after"];
    if (!p.is_string()) return bad("invalid_type", "field \"published_after\" must be a string");
    auto normalized = NormalizePublishedAfter(p.get<std::string>());
    if (!normalized) {
      return bad("invalid_value",
                 "field \"published_after\" must be a date (2024-03-01) or a UTC time "
                 "(2024-03-01T10:00:00Z)");
    }
    req.published_after = *normalized;
  }
  if (j.contains("max_duration_s")) {
    const auto& d = j["max_duration_s"];
    if (!d.is_number()) return bad("invalid_type", "field \"max_duration_s\" must be a number");
    const double v = d.get<double>();
    if (!(v > 0) || v > 7 * 24 * 3600) {
      return bad("invalid_value",
                 "field \"max_duration_s\" must be more than 0 and at most 604800 (7 days)");
    }
    req.max_duration_s = v;
  }
  if (j.contains("caption_languages")) {
    const auto& langs = j["caption_languages"];
    if (!langs.is_array()) {
      return bad("invalid_type",
                 "field \"caption_languages\" must be an array of language codes like [\"en\", "
                 "\"de\"]");
    }
    if (langs.empty() || langs.size() > kMaxCaptionLanguages) {
      return bad("invalid_value", "field \"caption_languages\" must list 1 to " +
                                      std::to_string(kMaxCaptionLanguages) + " languages");
    }
    for (const auto& l : langs) {
      if (!l.is_string()) {
        return bad("invalid_type", "field \"caption_languages\" must hold only strings");
      }
      const auto& text = l.get_ref<const std::string&>();
      // One code each (ParseLanguageList would also split "en,de"), as yt-dlp's --sub-langs
      // reads them as regular expressions.
      auto parsed = media::ParseLanguageList(text);
      if (text.find(',') != std::string::npos || !parsed.ok() || parsed->size() != 1 ||
          (*parsed)[0] != text) {
        return bad("invalid_value", "field \"caption_languages\": \"" + text.substr(0, 40) +
                                        "\" is not a language code like en, de or pt-BR");
      }
      if (std::find(req.caption_languages.begin(), req.caption_languages.end(), text) ==
          req.caption_languages.end()) {
        req.caption_languages.push_back(text);
      }
    }
  }
  auto ref = media::NormalizeChannel(req.channel);
  if (!ref.ok()) return bad("invalid_channel", ref.error().message);
  req.channel_url = ref->url;
  req.user_url = ref->kind == media::ChannelKind::kUrl;
  return req;
}

Result<int> ParseListLimit(std::string_view value, int max) {
  int limit = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, limit);
  if (value.empty() || value.front() == '-' || ec != std::errc() || ptr != end || limit < 1 ||
      limit > max) {
    return Error::Permanent("invalid_parameter",
                            "limit must be an integer from 1 to " + std::to_string(max));
  }
  return limit;
}

}  // namespace chansum::orchestrator
