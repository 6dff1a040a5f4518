// ClassifyYtDlpFailure: a failed yt-dlp run to a permanent or transient Error, by its stderr.
#include <algorithm>
#include <cctype>

#include "chansum/media/ytdlp.hpp"
#include "chansum/net/destination.hpp"
#include "strings.hpp"

namespace chansum::media {
namespace {

std::string StripBoilerplate(std::string text) {
  constexpr std::string_view kReport = "; please report this issue on";
  for (auto pos = text.find(kReport); pos != std::string::npos; pos = text.find(kReport, pos)) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    text.erase(pos, end - pos);
  }
  return text;
}

}  // namespace

Error ClassifyYtDlpFailure(const ProcessResult& result, std::string_view program) {
  ProcessResult cleaned = result;
  cleaned.stderr_tail = StripBoilerplate(result.stderr_tail);
  const std::string message = DescribeFailure(cleaned, program);
  if (result.timed_out) return Error::Transient("timeout", message);
  if (result.canceled) return Error::Transient("canceled", message);

  // Judge by the last ERROR line when there is one: earlier lines may be retried warnings.
  std::string_view text = cleaned.stderr_tail;
  if (const auto pos = text.rfind("ERROR:"); pos != std::string_view::npos) {
    text = text.substr(pos);
    text = text.substr(0, text.find('\n'));
  }

  // A fetch the egress proxy refused (libs/egress: a redirect or a page's link into the services'
  // network): "HTTP Error 403: refused by the egress proxy: destination ... is not allowed: ..."
  // or "Tunnel connection failed: 403 refused by the egress proxy: ...". Permanent, like the
  // same refusal of the URL itself; the message is the proxy's reason.
  if (const auto pos = text.find(net::kEgressRefusalMarker); pos != std::string_view::npos) {
    auto reason = text.substr(pos + net::kEgressRefusalMarker.size());
    reason = reason.substr(0, reason.find_first_of(">'\"\n"));
    reason = reason.substr(0, reason.find(" (caused by"));
    return Error::Permanent(
        net::kDestinationNotAllowed,
        program.empty() ? std::string(reason)
                        : std::string(program) + ": a fetch was refused: " + std::string(reason));
  }

  // HTTP status codes, as in "HTTP Error 404: Not Found".
  if (const auto pos = text.find("HTTP Error "); pos != std::string_view::npos) {
    const auto digits = text.substr(pos + 11, 3);
    if (digits.size() == 3 && std::all_of(digits.begin(), digits.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        })) {
      const int status = std::stoi(std::string(digits));
      if (status == 429) return Error::Transient("rate_limited", message);
      if (status >= 500) return Error::Transient("server_error", message);
      if (status == 404 || status == 410) return Error::Permanent("not_found", message);
      if (status == 403) return Error::Permanent("forbidden", message);
      if (status >= 400) return Error::Permanent("http_error", message);
    }
  }

  struct Rule {
    std::string_view phrase;
    ErrorClass cls;
    const char* code;
  };
  static constexpr Rule kRules[] = {
      // YouTube's bot check ("Sign in to confirm you're not a bot. This helps protect our
      // community." / "... Use --cookies-from-browser or --cookies for the authentication."):
      // retrying from the same address without cookies or a proxy does not pass it. Its own
      // class: the host is blocked for a long while for every worker (host_limits.hpp).
      {"confirm you're not a bot", ErrorClass::kTransient, "bot_check"},
      {"confirm you\xE2\x80\x99re not a bot", ErrorClass::kTransient, "bot_check"},
      {"confirm that you're not a bot", ErrorClass::kTransient, "bot_check"},
      // YouTube's session rate limit (yt-dlp since 2025: "Video unavailable. This content isn't
      // available, try again later. The current session has been rate-limited by YouTube for up
      // to an hour."): before "Video unavailable", which would file it as permanent.
      {"rate-limited by YouTube", ErrorClass::kTransient, "rate_limited"},
      {"content isn't available, try again later", ErrorClass::kTransient, "rate_limited"},
      {"content isn\xE2\x80\x99t available, try again later", ErrorClass::kTransient,
       "rate_limited"},
      {"Too Many Requests", ErrorClass::kTransient, "rate_limited"},
      {"Unsupported URL", ErrorClass::kPermanent, "unsupported_url"},
      {"is not a valid URL", ErrorClass::kPermanent, "unsupported_url"},
      {"Video unavailable", ErrorClass::kPermanent, "video_unavailable"},
      {"video is unavailable", ErrorClass::kPermanent, "video_unavailable"},
      {"video is not available", ErrorClass::kPermanent, "video_unavailable"},
      {"has been removed", ErrorClass::kPermanent, "video_unavailable"},
      {"has been terminated", ErrorClass::kPermanent, "video_unavailable"},
      {"not made this video available in your country", ErrorClass::kPermanent,
       "video_unavailable"},
      {"Private video", ErrorClass::kPermanent, "private_video"},
      {"video is private", ErrorClass::kPermanent, "private_video"},
      {"Sign in to confirm your age", ErrorClass::kPermanent, "login_required"},
      {"members-only", ErrorClass::kPermanent, "login_required"},
      {"available to this channel's members", ErrorClass::kPermanent, "login_required"},
      {"only available for registered users", ErrorClass::kPermanent, "login_required"},
      {"This live event will begin", ErrorClass::kPermanent, "live_not_started"},
      {"Premieres in", ErrorClass::kPermanent, "live_not_started"},
      {"does not exist", ErrorClass::kPermanent, "not_found"},
      {"does not have a", ErrorClass::kPermanent, "not_found"},
      {"Requested format is not available", ErrorClass::kPermanent, "no_formats"},
      {"No video formats found", ErrorClass::kPermanent, "no_formats"},
      {"timed out", ErrorClass::kTransient, "network"},
      {"Connection refused", ErrorClass::kTransient, "network"},
      {"Connection reset", ErrorClass::kTransient, "network"},
      {"Connection aborted", ErrorClass::kTransient, "network"},
      {"Remote end closed connection", ErrorClass::kTransient, "network"},
      {"IncompleteRead", ErrorClass::kTransient, "network"},
      {"Name or service not known", ErrorClass::kTransient, "network"},
      {"Temporary failure in name resolution", ErrorClass::kTransient, "network"},
      {"Network is unreachable", ErrorClass::kTransient, "network"},
      {"No route to host", ErrorClass::kTransient, "network"},
      {"EOF occurred in violation of protocol", ErrorClass::kTransient, "network"},
      {"No space left on device", ErrorClass::kTransient, "disk_full"},
  };
  for (const auto& rule : kRules) {
    if (ContainsNoCase(text, rule.phrase)) return Error{rule.cls, rule.code, message};
  }
  // Exit code 2 is a usage error ("yt-dlp: error: no such option"): retrying cannot help.
  if (result.exit_code == 2 && Contains(cleaned.stderr_tail, "error:")) {
    return Error::Permanent("bad_arguments", message);
  }
  return Error::Transient("ytdlp_failed", message);
}

}  // namespace chansum::media
