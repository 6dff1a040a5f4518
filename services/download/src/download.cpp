#include "download.hpp"

#include <algorithm>
#include <memory>

#include <spdlog/spdlog.h>

#include "chansum/asr/transcript.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/egress/proxy.hpp"
#include "chansum/media/direct.hpp"
#include "chansum/media/subtitles.hpp"
#include "chansum/media/ytdlp.hpp"
#include "chansum/net/destination.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/stage/host_limits.hpp"

namespace chansum::download {

asr::Transcript CaptionTranscript(const media::Captions& captions) {
  asr::Transcript t;
  t.source = "captions";
  t.engine = captions.automatic ? "captions:automatic" : "captions:manual";
  t.language = captions.language;
  for (const auto& s : captions.segments) {
    t.segments.push_back({s.start, s.end, s.text});
    t.audio_seconds = std::max(t.audio_seconds, s.end);
  }
  t.text = asr::JoinSegments(t.segments);
  return t;
}

media::CaptionOptions JobCaptionOptions(const media::CaptionOptions& defaults,
                                        const nlohmann::json& job_options) {
  media::CaptionOptions out = defaults;
  const auto it =
      job_options.is_object() ? job_options.find("caption_languages") : job_options.end();
  if (it == job_options.end() || !it->is_array()) return out;
  std::vector<std::string> langs;
  for (const auto& l : *it) {
    if (!l.is_string()) continue;
    // Checked again: the options come from the database, and yt-dlp reads them as patterns.
    auto parsed = media::ParseLanguageList(l.get<std::string>());
    if (parsed.ok() && parsed->size() == 1) langs.push_back((*parsed)[0]);
  }
  if (!langs.empty()) out.languages = std::move(langs);
  return out;
}

stage::StageDefinition Definition() {
  stage::StageDefinition def;
  def.stage = protocol::Stage::kDownload;
  def.default_concurrency = 3;
  def.needs_docstore = true;  // captions are stored as the video's transcript
  def.configure = [](ConfigReader& env, stage::StageDefinition&) -> stage::HandlerFactory {
    auto options = media::YtDlpOptions::FromEnv(env);
    const auto direct = media::DirectOptions::FromEnv(env, options);
    const auto captions = media::CaptionOptions::FromEnv(env);
    const auto policy =
        std::make_shared<const net::DestinationPolicy>(net::DestinationPolicy::FromEnv(env));
    const auto hosts = stage::SharedHostLimits::FromEnv(env);
    // yt-dlp's own fetches (redirects, extractor pages, the media and captions it finds) go
    // through the egress proxy, which applies the same policy to every hop (YTDLP_EGRESS_PROXY).
    auto proxy = egress::StartFromEnv(env, *policy);
    if (proxy) options.UseEgressProxy(proxy->Url());
    return [options, direct, captions, policy, hosts, proxy] {
      (void)proxy;  // held by the factory: the proxy runs while the service does
      return [options, direct, captions, policy, hosts](
                 const protocol::Command& cmd,
                 stage::StageContext& ctx) -> Result<stage::StageOutput> {
        auto call_options = options;
        call_options.should_stop = ctx.should_stop;  // SIGTERM aborts yt-dlp
        const auto url = cmd.data.at("url").get<std::string>();
        // SSRF: checked before yt-dlp runs (a command may come from an older discovery, a
        // replayed dead letter, or a name that resolves elsewhere now).
        if (auto allowed = policy->Check(url); !allowed.ok()) return allowed.error();
        // A direct media URL (a feed enclosure, a plain media file) is fetched with libcurl:
        // no yt-dlp start, every connection checked on its actual address. A media file has no
        // captions to look for. A page answers "not_media" and goes on to yt-dlp.
        auto& limits = hosts->limits();
        if (direct.enabled && media::IsDirectMediaCandidate(url, cmd.video_id)) {
          // The host's shared rate limit and blocks count for direct fetches too (issue 15 §2).
          if (auto go = limits.Acquire(url, ctx.should_stop, cmd.job_id); !go.ok()) {
            return go.error();
          }
          auto direct_options = direct;
          direct_options.should_stop = ctx.should_stop;
          auto file =
              media::DirectDownload(url, cmd.video_id, ctx.media_dir, *policy, direct_options);
          if (file.ok()) {
            stage::StageOutput out;
            out.media_path = file->path.string();
            out.next_data = {{"media_path", out.media_path}};
            out.event_data = {{"bytes", file->bytes}};
            spdlog::info("downloaded {} bytes directly (no yt-dlp)", file->bytes);
            return out;
          }
          if (file.error().code == "rate_limited") {
            return limits.Observe(url, std::move(file).error(), cmd.job_id);
          }
          if (file.error().code != media::kNotMedia) return file.error();
          spdlog::info("{}: extracting with yt-dlp", file.error().message);
        }
        // Captions first: subtitles make the audio stages unnecessary.
        if (captions.enabled) {
          // Every yt-dlp call takes a token of its host's shared rate limit (issue 15 §2).
          if (auto go = limits.Acquire(url, ctx.should_stop, cmd.job_id); !go.ok())
            return go.error();
          auto found = media::FetchCaptions(url, cmd.video_id, ctx.media_dir, call_options,
                                            JobCaptionOptions(captions, ctx.claim.job_options));
          if (!found.ok()) {
            if (ctx.should_stop && ctx.should_stop()) return found.error();
            // The host blocks us: downloading the media would only be refused as well.
            const auto code = found.error().code;
            if (code == "bot_check" || code == "rate_limited") {
              return limits.Observe(url, std::move(found).error(), cmd.job_id);
            }
            spdlog::warn("no captions ({}); downloading the media for ASR",
                         found.error().ToString());
          } else if (found->has_value()) {
            const auto transcript = CaptionTranscript(**found);
            auto stored = ctx.docs->Upsert(protocol::kTranscriptsCollection, cmd.video_id,
                                           asr::ToJson(transcript));
            if (!stored.ok()) return stored.error();
            stage::StageOutput out;
            out.next_stage = protocol::Stage::kSummarization;
            out.skip_reason = "captions";
            out.event_data = {{"bytes", 0}};
            spdlog::info("{} captions ({}, {} segments): audio stages skipped",
                         (*found)->automatic ? "automatic" : "manual", (*found)->language,
                         transcript.segments.size());
            return out;
          }
        }
        if (auto go = limits.Acquire(url, ctx.should_stop, cmd.job_id); !go.ok()) return go.error();
        auto file = media::Download(url, cmd.video_id, ctx.media_dir, call_options);
        if (!file.ok()) return limits.Observe(url, std::move(file).error(), cmd.job_id);
        stage::StageOutput out;
        out.media_path = file->path.string();
        out.next_data = {{"media_path", out.media_path}};
        out.event_data = {{"bytes", file->bytes}};
        return out;
      };
    };
  };
  return def;
}

}  // namespace chansum::download
