#include "discovery.hpp"

#include <algorithm>
#include <memory>
#include <set>

#include "chansum/docstore/docstore.hpp"
#include "chansum/egress/proxy.hpp"
#include "chansum/media/feed.hpp"
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

bool FeedShowsNothingNew(const std::vector<std::string>& feed_ids,
                         const std::optional<std::vector<std::string>>& seen) {
  if (!seen) return false;
  // A feed that went empty while the last check saw entries is a glitch, not news: list it.
  if (feed_ids.empty() && !seen->empty()) return false;
  const std::set<std::string> known(seen->begin(), seen->end());
  return std::all_of(feed_ids.begin(), feed_ids.end(),
                     [&](const std::string& id) { return known.contains(id); });
}

void KeepListedFeedIds(const nlohmann::json& feed, const std::vector<media::VideoEntry>& entries,
                       nlohmann::json& facts) {
  auto ids = facts.find("feed_video_ids");
  if (ids == facts.end() || !ids->is_array()) return;
  std::set<std::string> known;
  for (const auto& e : entries) known.insert(e.id);
  if (auto seen = feed.find("seen"); seen != feed.end() && seen->is_array()) {
    for (const auto& id : *seen) {
      if (id.is_string()) known.insert(id.get<std::string>());
    }
  }
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& id : *ids) {
    if (id.is_string() && known.contains(id.get<std::string>())) kept.push_back(id);
  }
  *ids = std::move(kept);
}

namespace {

// The feed pre-check of a subscription check (data.feed): reads the Atom feed (the host's shared
// rate limit first) and fills `facts`. True when the feed shows nothing new (no listing needed).
// A feed that cannot be fetched or parsed only leaves a note: the full listing decides. An error
// is returned only when the host's rate limit refuses (the listing would be refused too).
Result<bool> FeedPrecheck(const nlohmann::json& feed, const net::DestinationPolicy& policy,
                          stage::SharedHostLimits& hosts, const protocol::Command& cmd,
                          stage::StageContext& ctx, nlohmann::json& facts) {
  if (!feed.contains("url") || !feed["url"].is_string()) {
    facts["feed_note"] = feed.value("note", "no feed");
    return false;
  }
  const auto url = feed["url"].get<std::string>();
  std::optional<std::vector<std::string>> seen;
  if (feed.contains("seen") && feed["seen"].is_array()) {
    seen = feed["seen"].get<std::vector<std::string>>();
  }
  if (auto go = hosts.limits().Acquire(url, ctx.should_stop, cmd.job_id); !go.ok()) {
    return go.error();
  }
  media::FeedFetchOptions options;
  options.should_stop = ctx.should_stop;
  auto body = media::FetchFeed(url, policy, options);
  if (!body.ok()) {
    const auto observed = hosts.limits().Observe(url, std::move(body).error(), cmd.job_id);
    facts["feed_note"] = "no feed: " + observed.ToString();
    return false;
  }
  auto entries = media::ParseYouTubeFeed(*body);
  if (!entries.ok()) {
    facts["feed_note"] = "no feed: " + entries.error().ToString();
    return false;
  }
  std::vector<std::string> ids;
  for (const auto& e : *entries) ids.push_back(e.video_id);
  facts["feed_video_ids"] = ids;
  if (FeedShowsNothingNew(ids, seen)) {
    facts["listing"] = "feed";
    facts["feed_note"] = "";
    return true;
  }
  facts["feed_note"] = seen ? "the feed shows a video not seen at the last check"
                            : "the feed's first read: the full listing decides";
  return false;
}

}  // namespace

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
    if (proxy) options.UseEgressProxy(proxy->Url());
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
        stage::StageOutput out;
        // A subscription check reads the channel's Atom feed first (issue 15 §1): nothing new
        // there, no yt-dlp run.
        if (cmd.data.contains("feed") && cmd.data["feed"].is_object()) {
          out.check_facts = {{"listing", "full"},
                             {"feed_note", ""},
                             {"feed_video_ids", nullptr},
                             {"channel_id", ""}};
          auto unchanged =
              FeedPrecheck(cmd.data["feed"], *policy, *hosts, cmd, ctx, out.check_facts);
          if (!unchanged.ok()) return unchanged.error();
          if (*unchanged) {
            out.event_data = {{"video_count", 0}};
            return out;
          }
        }
        auto call_options = options;
        call_options.should_stop = ctx.should_stop;  // SIGTERM aborts yt-dlp
        // The host's rate limit, shared with every worker (issue 15 §2).
        if (auto go = hosts->limits().Acquire(url, ctx.should_stop, cmd.job_id); !go.ok())
          return go.error();
        auto playlist = media::DiscoverPlaylist(url, list_end, call_options);
        if (!playlist.ok())
          return hosts->limits().Observe(url, std::move(playlist).error(), cmd.job_id);
        const auto& entries = playlist->entries;
        if (out.check_facts.is_object()) {
          out.check_facts["channel_id"] = playlist->channel_id;
          KeepListedFeedIds(cmd.data.at("feed"), entries, out.check_facts);
        }
        for (const auto& e : entries) {
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
