#include <gtest/gtest.h>

#include <string>

#include "chansum/media/ytdlp.hpp"

namespace chansum::media {
namespace {

Error Classify(const std::string& stderr_text, int exit_code = 1) {
  ProcessResult r;
  r.exit_code = exit_code;
  r.stderr_tail = stderr_text;
  return ClassifyYtDlpFailure(r);
}

struct Case {
  const char* stderr_text;
  ErrorClass cls;
  const char* code;
};

// The egress proxy's refusal (libs/egress), as yt-dlp 2023.03.04 prints it for a plain request
// (a redirect hop) and for an https tunnel: permanent, with the proxy's reason alone.
TEST(ClassifyYtDlpFailure, EgressProxyRefusalsArePermanentWithTheReason) {
  const std::string reason =
      "destination 127.0.0.1:41011 is not allowed: it is a loopback address (only public "
      "addresses are fetched unless FETCH_ALLOWLIST lists them)";
  for (const std::string& line :
       {"ERROR: [generic] None: Unable to download webpage: HTTP Error 403: refused by the egress "
        "proxy: " +
            reason + " (caused by <HTTPError 403: 'refused by the egress proxy: " + reason +
            "'>)\n",
        "ERROR: [generic] Unable to download webpage: <urlopen error Tunnel connection failed: "
        "403 refused by the egress proxy: " +
            reason +
            "> (caused by URLError(OSError('Tunnel connection failed: 403 refused by the egress "
            "proxy: " +
            reason + "')))\n"}) {
    const auto e = Classify(line);
    EXPECT_EQ(e.cls, ErrorClass::kPermanent) << line;
    EXPECT_EQ(e.code, "destination_not_allowed") << line;
    EXPECT_EQ(e.message, "yt-dlp: a fetch was refused: " + reason) << line;
  }
}

TEST(ClassifyYtDlpFailure, SampleStderrLines) {
  constexpr auto P = ErrorClass::kPermanent;
  constexpr auto T = ErrorClass::kTransient;
  const Case cases[] = {
      // Captured from Debian's yt-dlp 2023.03.04 against a local server.
      {"[generic] Extracting URL: http://127.0.0.1:18765/missing.mp4\n"
       "ERROR: [generic] None: Unable to download webpage: HTTP Error 404: File not found (caused "
       "by <HTTPError 404: 'File not found'>); please report this issue on  "
       "https://github.com/yt-dlp/yt-dlp/issues?q= , filling out the appropriate issue template. "
       "Confirm you are on the latest version using  yt-dlp -U\n",
       P, "not_found"},
      {"ERROR: [generic] None: Unable to download webpage: HTTP Error 410: Gone (caused by "
       "<HTTPError 410: 'Gone'>)",
       P, "not_found"},
      {"ERROR: [generic] None: Unable to download webpage: HTTP Error 403: Forbidden (caused by "
       "<HTTPError 403: 'Forbidden'>)",
       P, "forbidden"},
      {"ERROR: unable to download video data: HTTP Error 403: Forbidden", P, "forbidden"},
      {"ERROR: [generic] None: Unable to download webpage: HTTP Error 500: Internal Server Error "
       "(caused by <HTTPError 500: 'Internal Server Error'>)",
       T, "server_error"},
      {"ERROR: unable to download video data: HTTP Error 503: Service Unavailable", T,
       "server_error"},
      {"ERROR: [generic] None: Unable to download webpage: HTTP Error 429: Too Many Requests "
       "(caused by <HTTPError 429: 'Too Many Requests'>)",
       T, "rate_limited"},
      {"ERROR: Unsupported URL: http://127.0.0.1:18766/garbage.mp4", P, "unsupported_url"},
      {"ERROR: [youtube] dQw4w9WgXcQ: Video unavailable", P, "video_unavailable"},
      {"ERROR: [youtube] dQw4w9WgXcQ: Video unavailable. This video is no longer available "
       "because the YouTube account associated with this video has been terminated.",
       P, "video_unavailable"},
      {"ERROR: [youtube] dQw4w9WgXcQ: Private video. Sign in if you've been granted access to "
       "this video",
       P, "private_video"},
      {"ERROR: [youtube] dQw4w9WgXcQ: Sign in to confirm your age. This video may be "
       "inappropriate for some users.",
       P, "login_required"},
      {"ERROR: [youtube] dQw4w9WgXcQ: Join this channel to get access to members-only content "
       "like this video, and other exclusive perks.",
       P, "login_required"},
      {"ERROR: [youtube] Up0c0m1ngXy: This live event will begin in 3 hours.", P,
       "live_not_started"},
      {"ERROR: [youtube:tab] @nochannel: This channel does not have a videos tab", P, "not_found"},
      {"ERROR: [youtube] dQw4w9WgXcQ: Requested format is not available. Use --list-formats for "
       "a list of available formats",
       P, "no_formats"},
      // Bot checks: their own class (yt-dlp 2023 and 2024+ wordings, both apostrophes).
      {"ERROR: [youtube] dQw4w9WgXcQ: Sign in to confirm you're not a bot. This helps protect "
       "our community.",
       T, "bot_check"},
      {"ERROR: [youtube] dQw4w9WgXcQ: Sign in to confirm you\xE2\x80\x99re not a bot. Use "
       "--cookies-from-browser or --cookies for the authentication. See  "
       "https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to "
       "manually pass cookies. Also see  "
       "https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips on "
       "effectively exporting YouTube cookies",
       T, "bot_check"},
      // YouTube's session rate limit says "Video unavailable" first: not a permanent failure.
      {"ERROR: [youtube] 8NxoMpXM2oI: Video unavailable. This content isn't available, try again "
       "later. The current session has been rate-limited by YouTube for up to an hour. It is "
       "recommended to use `-t sleep` to add a delay between video requests to avoid exceeding "
       "the rate limit.",
       T, "rate_limited"},
      {"ERROR: [youtube] y5W-c0UwcpQ: This content isn\xE2\x80\x99t available, try again later.", T,
       "rate_limited"},
      {"ERROR: [youtube] dQw4w9WgXcQ: This video is available to this channel's members on level: "
       "Tier 1 (or any higher level). Join this channel to get access to members-only content and "
       "other exclusive perks.",
       P, "login_required"},
      {"ERROR: [youtube] dQw4w9WgXcQ: This video is not available from your location due to geo "
       "restriction",
       P, "video_unavailable"},
      {"ERROR: [youtube] dQw4w9WgXcQ: The uploader has not made this video available in your "
       "country.",
       P, "video_unavailable"},
      {"ERROR: [youtube] dQw4w9WgXcQ: Premieres in 2 hours", P, "live_not_started"},
      {"ERROR: [generic] None: Unable to download webpage: <urlopen error [Errno 111] Connection "
       "refused> (caused by URLError(ConnectionRefusedError(111, 'Connection refused')))",
       T, "network"},
      {"ERROR: [generic] None: Unable to download webpage: <urlopen error [Errno -2] Name or "
       "service not known> (caused by URLError(gaierror(-2, 'Name or service not known')))",
       T, "network"},
      {"ERROR: [youtube] dQw4w9WgXcQ: Unable to download API page: <urlopen error [Errno -3] "
       "Temporary failure in name resolution>",
       T, "network"},
      {"ERROR: [download] Got error: The read operation timed out", T, "network"},
      {"ERROR: unable to download video data: <urlopen error timed out>", T, "network"},
      {"ERROR: [download] Got error: ('Connection broken: IncompleteRead(1 bytes read, 9 more "
       "expected)', IncompleteRead(1 bytes read, 9 more expected))",
       T, "network"},
      {"ERROR: [Errno 104] Connection reset by peer", T, "network"},
      {"ERROR: unable to write data: [Errno 28] No space left on device", T, "disk_full"},
      {"ERROR: something nobody has seen before", T, "ytdlp_failed"},
      {"", T, "ytdlp_failed"},
  };
  for (const auto& c : cases) {
    const Error e = Classify(c.stderr_text);
    EXPECT_EQ(e.cls, c.cls) << c.stderr_text;
    EXPECT_EQ(e.code, c.code) << c.stderr_text;
  }
}

TEST(ClassifyYtDlpFailure, UsageErrorIsPermanent) {
  const Error e = Classify(
      "Usage: yt-dlp [OPTIONS] URL [URL...]\n\nyt-dlp: error: no such option: --bogus\n", 2);
  EXPECT_EQ(e.cls, ErrorClass::kPermanent);
  EXPECT_EQ(e.code, "bad_arguments");
}

TEST(ClassifyYtDlpFailure, LastErrorLineDecides) {
  // A retried 503 warning followed by a final 404.
  const Error e = Classify(
      "WARNING: [generic] HTTP Error 503: Service Unavailable, retrying\n"
      "ERROR: [generic] None: Unable to download webpage: HTTP Error 404: Not Found\n");
  EXPECT_EQ(e.code, "not_found");
}

TEST(ClassifyYtDlpFailure, TimeoutAndStopAreTransientAndMessageIsClean) {
  ProcessResult r;
  r.timed_out = true;
  r.term_signal = 15;
  r.duration = std::chrono::milliseconds(30000);
  Error e = ClassifyYtDlpFailure(r);
  EXPECT_EQ(e.cls, ErrorClass::kTransient);
  EXPECT_EQ(e.code, "timeout");
  EXPECT_EQ(e.message, "yt-dlp timed out after 30.0 s");

  ProcessResult c;
  c.canceled = true;
  EXPECT_EQ(ClassifyYtDlpFailure(c).code, "canceled");
  EXPECT_TRUE(ClassifyYtDlpFailure(c).transient());

  const Error boiler = Classify(
      "ERROR: [generic] None: Unable to download webpage: HTTP Error 404: File not found (caused "
      "by <HTTPError 404: 'File not found'>); please report this issue on  "
      "https://github.com/yt-dlp/yt-dlp/issues?q= , filling out the appropriate issue template. "
      "Confirm you are on the latest version using  yt-dlp -U\n");
  EXPECT_EQ(boiler.message,
            "yt-dlp exited with code 1: ERROR: [generic] None: Unable to download webpage: HTTP "
            "Error 404: File not found (caused by <HTTPError 404: 'File not found'>)");
}

}  // namespace
}  // namespace chansum::media
