#pragma once
// Captions first (DESIGN §6): asks yt-dlp for a video's subtitles in WebVTT without downloading
// the media, and parses the best one: manual subtitles before automatic captions, languages in
// the configured order.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/media/webvtt.hpp"
#include "chansum/media/ytdlp.hpp"

namespace chansum::media {

// Environment:
//   CAPTIONS           "true" (default): try subtitles before downloading media; "false": ASR only
//   CAPTION_LANGUAGES  languages in order of preference, comma-separated (default "en,en-US,en-GB")
struct CaptionOptions {
  bool enabled = true;
  std::vector<std::string> languages = {"en", "en-US", "en-GB"};

  [[nodiscard]] static CaptionOptions FromEnv(ConfigReader& env);
};

// "en, en-US" -> {"en", "en-US"}. Each language must be [A-Za-z0-9-]{1,35} (yt-dlp reads
// --sub-langs as regular expressions, so nothing else may reach it); problems come back as an
// error message.
[[nodiscard]] Result<std::vector<std::string>> ParseLanguageList(std::string_view text);

struct Captions {
  std::string language;    // e.g. "en"
  bool automatic = false;  // automatic captions (speech recognition by the site)
  std::vector<CaptionSegment> segments;
};

// Chooses among the subtitle files yt-dlp wrote: `info` is its JSON for the video (the keys of
// "subtitles" are manual languages, of "automatic_captions" automatic ones); `written` maps a
// language to its file. Manual in preference order first, then automatic. nullopt when none fits.
struct CaptionChoice {
  std::string language;
  bool automatic = false;
};
[[nodiscard]] std::optional<CaptionChoice> ChooseCaptions(
    const nlohmann::json& info, const std::vector<std::string>& written_languages,
    const std::vector<std::string>& preferred);

// Runs `yt-dlp --skip-download --write-subs --write-auto-subs --sub-format vtt --sub-langs ...`
// for one video in a private temporary directory under <media_dir>/<id>/ and parses the chosen
// file. nullopt when the video has no subtitles in the configured languages (or they hold no
// text); an error when yt-dlp fails (the caller may fall back to downloading the media).
[[nodiscard]] Result<std::optional<Captions>> FetchCaptions(const std::string& video_url,
                                                            const std::string& video_id,
                                                            const std::filesystem::path& media_dir,
                                                            const YtDlpOptions& ytdlp,
                                                            const CaptionOptions& options);

}  // namespace chansum::media
