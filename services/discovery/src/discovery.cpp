#include "discovery.hpp"

#include "chansum/media/ytdlp.hpp"

namespace chansum::discovery {

stage::StageDefinition Definition() {
  stage::StageDefinition def;
  def.stage = protocol::Stage::kDiscovery;
  def.default_concurrency = 1;
  def.configure = [](ConfigReader& env) -> stage::HandlerFactory {
    const auto options = media::YtDlpOptions::FromEnv(env);
    return [options] {
      return [options](const protocol::Command& cmd,
                       stage::StageContext& ctx) -> Result<stage::StageOutput> {
        const auto url = cmd.data.at("channel_url").get<std::string>();
        const int max_videos = cmd.data.at("max_videos").get<int>();
        auto call_options = options;
        call_options.should_stop = ctx.should_stop;  // SIGTERM aborts yt-dlp
        auto entries = media::Discover(url, max_videos, call_options);
        if (!entries.ok()) return entries.error();
        stage::StageOutput out;
        for (const auto& e : *entries) {
          if (static_cast<int>(out.discovered.size()) >= max_videos) break;
          store::DiscoveredVideo v;
          v.video_id = e.id;
          v.title = e.title;
          v.url = e.url;
          v.duration_s = e.duration;
          v.published_at = e.published_at;
          out.discovered.push_back(std::move(v));
        }
        out.event_data = {{"video_count", out.discovered.size()}};
        return out;
      };
    };
  };
  return def;
}

}  // namespace chansum::discovery
