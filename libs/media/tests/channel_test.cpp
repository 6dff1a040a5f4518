#include "chansum/media/channel.hpp"

#include <gtest/gtest.h>

#include <string>

namespace chansum::media {
namespace {

struct Accepted {
  std::string input;
  std::string url;
  ChannelKind kind;
};

TEST(NormalizeChannel, AcceptsHandlesIdsAndHttpUrls) {
  const Accepted cases[] = {
      {"@demoscience", "https://www.youtube.com/@demoscience/videos", ChannelKind::kHandle},
      {"  @Demo.Sci_ence-1 ", "https://www.youtube.com/@Demo.Sci_ence-1/videos",
       ChannelKind::kHandle},
      {"UCx8Zq2Tk3oV0M7yH5pbVqLw",
       "https://www.youtube.com/channel/UCx8Zq2Tk3oV0M7yH5pbVqLw/videos", ChannelKind::kChannelId},
      {"UC_-abcdefghijklmnopqrs", "", ChannelKind::kChannelId},  // 23 chars: rejected below
      {"https://www.youtube.com/@demoscience/videos", "https://www.youtube.com/@demoscience/videos",
       ChannelKind::kUrl},
      {"https://www.youtube.com/@demoscience", "https://www.youtube.com/@demoscience/videos",
       ChannelKind::kUrl},
      {"https://youtube.com/channel/UCx8Zq2Tk3oV0M7yH5pbVqLw/",
       "https://youtube.com/channel/UCx8Zq2Tk3oV0M7yH5pbVqLw/videos", ChannelKind::kUrl},
      {"https://www.youtube.com/c/DemoScience", "https://www.youtube.com/c/DemoScience/videos",
       ChannelKind::kUrl},
      {"https://www.youtube.com/playlist?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs",
       "https://www.youtube.com/playlist?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs",
       ChannelKind::kUrl},
      {"https://www.youtube.com/watch?v=-Xk9_b2QpL0", "https://www.youtube.com/watch?v=-Xk9_b2QpL0",
       ChannelKind::kUrl},
      {"HTTP://127.0.0.1:8080/feed.xml", "http://127.0.0.1:8080/feed.xml", ChannelKind::kUrl},
      {"http://[::1]:9000/feed.rss?x=1#y", "http://[::1]:9000/feed.rss?x=1#y", ChannelKind::kUrl},
      {"https://example.org", "https://example.org", ChannelKind::kUrl},
  };
  for (const auto& c : cases) {
    if (c.url.empty()) continue;
    auto r = NormalizeChannel(c.input);
    ASSERT_TRUE(r.ok()) << c.input << ": " << r.error().ToString();
    EXPECT_EQ(r->url, c.url) << c.input;
    EXPECT_EQ(r->kind, c.kind) << c.input;
  }
  auto trimmed = NormalizeChannel("  @demoscience\n");
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(trimmed->input, "@demoscience");
  EXPECT_STREQ(ToString(trimmed->kind), "handle");
}

// Regression (tests/fuzz/channel_fuzz): a scheme in another case passed through as typed.
TEST(NormalizeChannel, LowerCasesTheScheme) {
  auto feed = NormalizeChannel("httP://127.0.0.1:8099/demo/feed.xml");
  ASSERT_TRUE(feed.ok()) << feed.error().ToString();
  EXPECT_EQ(feed->url, "http://127.0.0.1:8099/demo/feed.xml");
  auto channel = NormalizeChannel("HTTPS://www.youtube.com/@Someone");
  ASSERT_TRUE(channel.ok()) << channel.error().ToString();
  EXPECT_EQ(channel->url, "https://www.youtube.com/@Someone/videos");
  EXPECT_EQ(channel->input, "HTTPS://www.youtube.com/@Someone");
}

TEST(NormalizeChannel, RejectsInjectionAndBadInput) {
  const std::string rejected[] = {
      "",
      "   ",
      "-x",
      "--exec=touch /tmp/pwned",
      "--exec",
      "-o/etc/passwd",
      "@a\nb",
      "@ab\tcd",
      "@with space",
      "@a",
      "@" + std::string(31, 'a'),
      "@bad/handle",
      "@bad$(id)",
      "UCx8Zq2Tk3oV0M7yH5pbVqL",    // 23
      "UCx8Zq2Tk3oV0M7yH5pbVqLwX",  // 25
      "UCx8Zq2Tk3oV0M7yH5pbVq!w",   // bad character
      "file:///etc/passwd",
      "FILE:///etc/passwd",
      "ftp://example.org/feed.xml",
      "data:text/html,hi",
      "javascript:alert(1)",
      "https://",
      "http:///path-only",
      "https://user:secret@example.org/feed",
      "https://exa mple.org/",
      "https://example.org/a b",
      "https://example.org/\x01",
      "https://example.org/feed\x7f",
      "https://example.org:99999/",
      "https://example.org:/",
      "https://-example.org/",
      "www.youtube.com/@demoscience",
      "just some words",
      "https://example.org/" + std::string(2048, 'a'),
  };
  for (const auto& input : rejected) {
    auto r = NormalizeChannel(input);
    EXPECT_FALSE(r.ok()) << "accepted: " << input;
    if (!r.ok()) {
      EXPECT_EQ(r.error().cls, ErrorClass::kPermanent) << input;
      EXPECT_EQ(r.error().code, "invalid_channel") << input;
      EXPECT_FALSE(r.error().message.empty()) << input;
    }
  }
}

TEST(NormalizeChannel, MessagesSayWhatIsWrong) {
  EXPECT_EQ(NormalizeChannel("--exec=x").error().message, "channel must not start with '-'");
  EXPECT_EQ(NormalizeChannel("@a\nb").error().message, "channel contains a control character");
  EXPECT_EQ(NormalizeChannel("file:///etc/passwd").error().message,
            "only http:// and https:// URLs are accepted, not 'file:'");
  EXPECT_EQ(NormalizeChannel("https://").error().message, "URL has no host");
  EXPECT_NE(NormalizeChannel("UCshort").error().message.find("22"), std::string::npos);
  EXPECT_NE(NormalizeChannel(std::string(3000, 'a')).error().message.find("2048"),
            std::string::npos);
}

TEST(ValidateHttpUrl, GuardsDownloadUrls) {
  EXPECT_TRUE(ValidateHttpUrl("http://127.0.0.1:8080/v1.mp4").ok());
  EXPECT_TRUE(ValidateHttpUrl("https://www.youtube.com/watch?v=-Xk9_b2QpL0").ok());
  EXPECT_FALSE(ValidateHttpUrl("-v1.mp4").ok());
  EXPECT_FALSE(ValidateHttpUrl("/etc/passwd").ok());
  EXPECT_FALSE(ValidateHttpUrl("file:///etc/passwd").ok());
  EXPECT_FALSE(ValidateHttpUrl("http://h/\nx").ok());
  EXPECT_EQ(ValidateHttpUrl("ftp://h/x").error().code, "invalid_url");
}

}  // namespace
}  // namespace chansum::media
