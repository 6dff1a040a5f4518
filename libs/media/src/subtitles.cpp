#include "chansum/media/subtitles.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <system_error>

#include "chansum/media/channel.hpp"
#include "chansum/media/process.hpp"
#include "scratch_dir.hpp"
#include "ytdlp_command.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;

bool IsLanguageChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool HasKey(const nlohmann::json& info, const char* field, const std::string& lang) {
  const auto it = info.find(field);
  return it != info.end() && it->is_object() && it->contains(lang);
}

}  // namespace

Result<std::vector<std::string>> ParseLanguageList(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    pos = comma + 1;
    if (item.empty()) continue;
    if (item.size() > 35 || item.front() == '-' ||
        !std::all_of(item.begin(), item.end(), IsLanguageChar)) {
      return Error::Permanent("invalid_language", "'" + std::string(item) +
                                                      "' is not a language code like en or en-US");
    }
    if (std::find(out.begin(), out.end(), item) == out.end()) out.emplace_back(item);
  }
  if (out.empty()) return Error::Permanent("invalid_language", "no language given");
  return out;
}

CaptionOptions CaptionOptions::FromEnv(ConfigReader& env) {
  CaptionOptions o;
  o.enabled = env.Bool("CAPTIONS", o.enabled);
  const std::string langs = env.String("CAPTION_LANGUAGES", "en,en-US,en-GB");
  auto parsed = ParseLanguageList(langs);
  if (parsed.ok()) {
    o.languages = std::move(*parsed);
  } else {
    env.AddProblem("CAPTION_LANGUAGES: " + parsed.error().message);
  }
  return o;
}

std::optional<CaptionChoice> ChooseCaptions(const nlohmann::json& info,
                                            const std::vector<std::string>& written_languages,
                                            const std::vector<std::string>& preferred) {
  auto written = [&](const std::string& lang) {
    return std::find(written_languages.begin(), written_languages.end(), lang) !=
           written_languages.end();
  };
  // yt-dlp writes a manual track when one exists for a language and the automatic one otherwise.
  for (const auto& lang : preferred) {
    if (written(lang) && HasKey(info, "subtitles", lang)) return CaptionChoice{lang, false};
  }
  for (const auto& lang : preferred) {
    if (written(lang) && HasKey(info, "automatic_captions", lang)) return CaptionChoice{lang, true};
  }
  // Written, but listed in neither (an extractor that does not say): count it as manual.
  for (const auto& lang : preferred) {
    if (written(lang) && !HasKey(info, "automatic_captions", lang)) {
      return CaptionChoice{lang, false};
    }
  }
  return std::nullopt;
}

Result<std::optional<Captions>> FetchCaptions(const std::string& video_url,
                                              const std::string& video_id,
                                              const fs::path& media_dir, const YtDlpOptions& ytdlp,
                                              const CaptionOptions& options) {
  if (!options.enabled || options.languages.empty()) return std::optional<Captions>();
  if (auto valid = ValidateHttpUrl(video_url); !valid.ok()) return valid.error();
  auto scratch = MakeScratchDir(fs::absolute(media_dir) / SanitizeId(video_id), ".captions-");
  if (!scratch.ok()) return std::move(scratch).error();
  const fs::path tmp = *scratch;
  const RemoveTreeOnExit cleanup{tmp};

  std::string langs;
  for (const auto& l : options.languages) langs += (langs.empty() ? "" : ",") + l;
  auto argv = YtDlpBaseArgs(ytdlp);
  argv.insert(argv.end(),
              {"--no-playlist", "--skip-download", "--no-simulate", "--dump-json", "--write-subs",
               "--write-auto-subs", "--sub-format", "vtt", "--sub-langs", langs, "-o",
               EscapeOutputTemplate(tmp.string()) + "/subs.%(ext)s", "--", video_url});
  auto run = RunYtDlp(std::move(argv), ytdlp, ytdlp.download_timeout);
  if (!run.ok()) return std::move(run).error();
  if (!run->Succeeded()) return ClassifyYtDlpFailure(*run, ytdlp.binary);

  const auto info = nlohmann::json::parse(run->stdout_data, nullptr, false);
  std::vector<std::string> written;
  std::error_code ec;
  for (const auto& lang : options.languages) {
    if (fs::is_regular_file(tmp / ("subs." + lang + ".vtt"), ec)) written.push_back(lang);
  }
  auto choice = ChooseCaptions(info.is_object() ? info : nlohmann::json::object(), written,
                               options.languages);
  if (!choice) return std::optional<Captions>();
  std::ifstream in(tmp / ("subs." + choice->language + ".vtt"), std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto segments = ParseCaptionSegments(text);
  if (!segments.ok()) return std::move(segments).error();
  if (segments->empty()) return std::optional<Captions>();
  Captions captions;
  captions.language = choice->language;
  captions.automatic = choice->automatic;
  captions.segments = std::move(*segments);
  return std::optional<Captions>(std::move(captions));
}

}  // namespace chansum::media
