// The job's caption languages (POST /jobs caption_languages) replace CAPTION_LANGUAGES for its
// videos; anything in the stored options that is not a language code never reaches yt-dlp.
#include <gtest/gtest.h>

#include "src/download.hpp"

namespace chansum::download {
namespace {

TEST(JobCaptionOptions, TheJobsLanguagesInTheirOrderElseTheDefault) {
  media::CaptionOptions defaults;
  defaults.languages = {"en", "en-US"};
  EXPECT_EQ(JobCaptionOptions(defaults, nlohmann::json::object()).languages, defaults.languages);
  EXPECT_EQ(JobCaptionOptions(defaults, {{"max_videos", 3}}).languages, defaults.languages);
  EXPECT_EQ(JobCaptionOptions(defaults, {{"caption_languages", {"de", "en"}}}).languages,
            (std::vector<std::string>{"de", "en"}));
  // Stored options are checked again: patterns and lists are dropped.
  EXPECT_EQ(JobCaptionOptions(defaults, {{"caption_languages", {".*", "fr", 3, "a,b"}}}).languages,
            (std::vector<std::string>{"fr"}));
  EXPECT_EQ(JobCaptionOptions(defaults, {{"caption_languages", {".*"}}}).languages,
            defaults.languages);
  EXPECT_TRUE(JobCaptionOptions(defaults, {{"caption_languages", {"de"}}}).enabled);
}

}  // namespace
}  // namespace chansum::download
