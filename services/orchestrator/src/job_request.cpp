#include "job_request.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "chansum/media/channel.hpp"

namespace chansum::orchestrator {

using nlohmann::json;

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
    if (key != "channel" && key != "max_videos") {
      return bad("unknown_field", "unknown field \"" + key + "\" (allowed: channel, max_videos)");
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
  auto ref = media::NormalizeChannel(req.channel);
  if (!ref.ok()) return bad("invalid_channel", ref.error().message);
  req.channel_url = ref->url;
  return req;
}

Result<int> ParseListLimit(std::string_view value) {
  int limit = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, limit);
  if (value.empty() || value.front() == '-' || ec != std::errc() || ptr != end || limit < 1 ||
      limit > kMaxListLimit) {
    return Error::Permanent("invalid_parameter",
                            "limit must be an integer from 1 to " + std::to_string(kMaxListLimit));
  }
  return limit;
}

}  // namespace chansum::orchestrator
