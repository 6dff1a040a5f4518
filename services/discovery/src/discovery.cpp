#include "discovery.hpp"

#include <algorithm>
#include <memory>

#include "chansum/docstore/docstore.hpp"
#include "chansum/egress/proxy.hpp"
#include "chansum/media/ytdlp.hpp"
#include "chansum/net/destination.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/stage/host_limits.hpp"

namespace chansum::discovery {

bool PassesFilters(const media::VideoEntry& e, const Filters& filters) {
  if (e.IsLiveOrUpcoming()) return false;
  // Unknown dates and durations pass: a feed need not carry them.
  if (!filters.published_after.empty() && !e.published_at.empty() &&
      e.published_at < filters.published_after) {
    return false;
  }
  if (filters.max_duration_s && e.duration && *e.duration > *filters.max_duration_s) return false;
  return true;
}

Filters FiltersFromCommand(const nlohmann::json& data) {
  Filters f;
  if (data.contains("published_after") && data["published_after"].is_string()) {
    f.published_after = data["published_after"].get<std::string>();
  }
  if (data.contains("max_duration_s") && data["max_duration_s"].is_number()) {
    f.max_duration_s = data["max_duration_s"].get<double>();
  }
  return f;
}

Status ScreenDestinations(std::vector<store::DiscoveredVideo>& videos,
                          const net::DestinationPolicy& policy) {
  net::DestinationPolicy::Cache cache;  // one lookup per host, however many entries it serves
  for (auto& v : videos) {
    auto st = policy.Check(v.url, &cache);
    if (st.ok()) continue;
    if (st.error().transient()) return st;  // DNS trouble: the whole discovery retries
    v.refused = std::move(st).error();
  }
  return OkStatus();
}

stage::StageDefinition Definition() {
  stage::StageDefinition def;
  def.stage = protocol::Stage::kDiscovery;
  def.default_concurrency = 1;
  def.job_level = true;       // one command per job; the handler lists its videos
  def.needs_docstore = true;  // incremental sync: results stored by earlier jobs
  def.configure = [](ConfigReader& env, stage::StageDefinition&) -> stage::HandlerFactory {
    auto options = media::YtDlpOptions::FromEnv(env);
    const auto policy =
        std::make_shared<const net::DestinationPolicy>(net::DestinationPolicy::FromEnv(env));
    const auto hosts = stage::SharedHostLimits::FromEnv(env);
    // yt-dlp's own fetches (the listing's redirects, pages) go through the egress proxy, which
    // applies the same policy to every hop (YTDLP_EGRESS_PROXY).
    auto proxy = egress::StartFromEnv(env, *policy);
    if (proxy) {
      options.proxy = proxy->Url();
      options.egress_proxy = true;
    }
    return [options, policy, hosts, proxy] {
      (void)proxy;  // held by the factory: the proxy runs while the service does
      return [options, policy, hosts](const protocol::Command& cmd,
                                      stage::StageContext& ctx) -> Result<stage::StageOutput> {
        const auto url = cmd.data.at("channel_url").get<std::string>();
        // SSRF: the channel URL may not point into the services' own network (checked again
        // here: the API checked it at submission, but names can resolve differently now).
        if (auto allowed = policy->Check(url); !allowed.ok()) return allowed.error();
        const int max_videos = cmd.data.at("max_videos").get<int>();
        const auto filters = FiltersFromCommand(cmd.data);
        // Filters drop entries after listing: list more so max_videos can still be reached.
        const bool filtering = !filters.published_after.empty() || filters.max_duration_s;
        const int list_end =
            filtering ? std::min(2000, std::max(max_videos * 5, max_videos + 50)) : max_videos;
        auto call_options = options;
        call_options.should_stop = ctx.should_stop;  // SIGTERM aborts yt-dlp
        // The host's rate limit, shared with every worker (issue 15 §2).
        if (auto go = hosts->limits().Acquire(url, ctx.should_stop, cmd.job_id); !go.ok())
          return go.error();
        auto entries = media::Discover(url, list_end, call_options);
        if (!entries.ok())
          return hosts->limits().Observe(url, std::move(entries).error(), cmd.job_id);
        stage::StageOutput out;
        for (const auto& e : *entries) {
          if (static_cast<int>(out.discovered.size()) >= max_videos) break;
          if (!PassesFilters(e, filters)) continue;
          store::DiscoveredVideo v;
          // The source-scoped key (issue 18 §3.6): reuse and documents go by it, so a feed's
          // guid cannot name another source's video.
          v.video_id = e.key;
          v.source = e.source;
          v.source_id = e.id;
          v.title = e.title;
          v.url = e.url;
          v.duration_s = e.duration;
          v.published_at = e.published_at;
          out.discovered.push_back(std::move(v));
        }
        // Every listed URL is checked before a download command can carry it; refused ones are
        // recorded as failed videos with the reason (not dropped silently).
        if (auto screened = ScreenDestinations(out.discovered, *policy); !screened.ok()) {
          return screened.error();
        }
        for (auto& v : out.discovered) {
          if (v.refused) continue;
          // Incremental sync: a video with a stored transcript and summary is not processed again.
          auto summary = ctx.docs->Get(protocol::kSummariesCollection, v.video_id);
          if (!summary.ok()) return summary.error();
          if (summary->has_value()) {
            auto transcript = ctx.docs->Get(protocol::kTranscriptsCollection, v.video_id);
            if (!transcript.ok()) return transcript.error();
            if (transcript->has_value()) v.reuse_reason = "already processed";
          }
        }
        out.event_data = {{"video_count", out.discovered.size()}};
        return out;
      };
    };
  };
  return def;
}

}  // namespace chansum::discovery
