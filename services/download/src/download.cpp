#include "download.hpp"

#include "chansum/media/ytdlp.hpp"

namespace chansum::download {

stage::StageDefinition Definition() {
  stage::StageDefinition def;
  def.stage = protocol::Stage::kDownload;
  def.default_concurrency = 3;
  def.configure = [](ConfigReader& env) -> stage::HandlerFactory {
    const auto options = media::YtDlpOptions::FromEnv(env);
    return [options] {
      return [options](const protocol::Command& cmd,
                       stage::StageContext& ctx) -> Result<stage::StageOutput> {
        auto call_options = options;
        call_options.should_stop = ctx.should_stop;  // SIGTERM aborts yt-dlp
        auto file = media::Download(cmd.data.at("url").get<std::string>(), cmd.video_id,
                                    ctx.media_dir, call_options);
        if (!file.ok()) return file.error();
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
