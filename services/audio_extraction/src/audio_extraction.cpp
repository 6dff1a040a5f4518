#include "audio_extraction.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "chansum/media/ffmpeg.hpp"
#include "chansum/media/paths.hpp"
#include "chansum/media/ytdlp.hpp"

namespace chansum::audio_extraction {

stage::StageDefinition Definition() {
  stage::StageDefinition def;
  def.stage = protocol::Stage::kAudioExtraction;
  def.default_concurrency = 2;
  def.configure = [](ConfigReader& env, stage::StageDefinition&) -> stage::HandlerFactory {
    const auto options = media::FfmpegOptions::FromEnv(env);
    return [options] {
      return [options](const protocol::Command& cmd,
                       stage::StageContext& ctx) -> Result<stage::StageOutput> {
        // The command names the file to read (and delete): only ever one inside MEDIA_DIR.
        auto confined =
            media::ConfineToMediaDir(cmd.data.at("media_path").get<std::string>(), ctx.media_dir);
        if (!confined.ok()) return confined.error();
        const std::filesystem::path input = *confined;
        const auto output = ctx.media_dir / media::SanitizeId(cmd.video_id) / "audio.wav";
        stage::StageOutput out;
        out.audio_path = output.string();
        out.next_data = {{"audio_path", out.audio_path}};
        // A redelivered command whose first run already wrote the WAV (atomically) and removed
        // the media file: nothing left to do.
        if (!std::filesystem::exists(input) && std::filesystem::exists(output)) {
          auto info = media::ReadWavInfo(output);
          if (!info.ok()) return info.error();
          std::error_code ec;
          const auto bytes = std::filesystem::file_size(output, ec);
          out.event_data = {
              {"audio_seconds", info->duration_s}, {"bytes", ec ? 0 : bytes}, {"reused", true}};
          return out;
        }
        auto call_options = options;
        call_options.should_stop = ctx.should_stop;  // SIGTERM aborts ffmpeg
        auto audio = media::ExtractWav(input, output, call_options);
        if (!audio.ok()) return audio.error();
        if (!options.keep_media) {
          std::error_code ec;
          std::filesystem::remove(input, ec);
          if (ec) spdlog::warn("could not remove {}: {}", input.string(), ec.message());
        }
        out.event_data = {{"audio_seconds", audio->duration_s}, {"bytes", audio->bytes}};
        return out;
      };
    };
  };
  return def;
}

}  // namespace chansum::audio_extraction
