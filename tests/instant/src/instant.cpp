#include "chansum/instant/instant.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "chansum/asr/transcript.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/media/ytdlp.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/summarize/summarize.hpp"

namespace chansum::instant {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxVideos = 100000;

std::optional<int> ParsePositive(std::string_view s) {
  int v = 0;
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || ptr != end || v < 0) return std::nullopt;
  return v;
}

// Sleeps a random time in [0, max_delay], in slices so SIGTERM is not held up.
void RandomDelay(std::chrono::milliseconds max_delay, const std::function<bool()>& should_stop) {
  if (max_delay.count() <= 0) return;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> dist(0, max_delay.count());
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(dist(rng));
  while (std::chrono::steady_clock::now() < until) {
    if (should_stop && should_stop()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Writes `bytes` bytes to `file` atomically (temporary name, then rename).
Result<std::uint64_t> WriteTinyFile(const fs::path& file, std::size_t bytes) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) return Error::Transient("io_error", "cannot create " + file.parent_path().string());
  const fs::path tmp = file.string() + ".part";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << std::string(bytes, 'x');
    if (!out) return Error::Transient("io_error", "cannot write " + tmp.string());
  }
  fs::rename(tmp, file, ec);
  if (ec) return Error::Transient("io_error", "cannot rename to " + file.string());
  return static_cast<std::uint64_t>(bytes);
}

void RemoveQuietly(const fs::path& file) {
  std::error_code ec;
  fs::remove(file, ec);
}

asr::Transcript MakeTranscript(const std::string& video_id, const std::string& title) {
  asr::Transcript t;
  t.engine = "instant";
  const std::vector<std::string> lines = {
      "this is the instant transcript of " + title,
      "video " + video_id + " talks about reliable pipelines and message queues",
      "every stage records its outcome in the same transaction as the next command",
      "duplicate deliveries must never create a second document",
      "the summary is made of these sentences"};
  double at = 0;
  for (const auto& l : lines) {
    t.segments.push_back({at, at + 2.5, l});
    at += 3;
  }
  t.text = asr::JoinSegments(t.segments);
  t.audio_seconds = at;
  return t;
}

using Body =
    std::function<Result<stage::StageOutput>(const protocol::Command&, stage::StageContext&)>;

Result<stage::StageOutput> Discover(const protocol::Command& cmd, stage::StageContext&) {
  auto channel = ParseInstantChannel(cmd.data.at("channel_url").get<std::string>());
  if (!channel.ok()) return channel.error();
  const int max_videos = cmd.data.at("max_videos").get<int>();
  stage::StageOutput out;
  for (int i = 1; i <= channel->videos && i <= max_videos; ++i) {
    store::DiscoveredVideo v;
    v.video_id = InstantVideoId(cmd.job_id, i);
    v.title = "Instant video " + std::to_string(i);
    v.url = "http://instant.invalid/v/" + v.video_id;
    if (channel->fail_every > 0 && i % channel->fail_every == 0) v.url += "?fail=1";
    v.duration_s = 15.0;
    out.discovered.push_back(std::move(v));
  }
  out.event_data = {{"video_count", out.discovered.size()}};
  return out;
}

Result<stage::StageOutput> Download(const protocol::Command& cmd, stage::StageContext& ctx) {
  const auto url = cmd.data.at("url").get<std::string>();
  if (url.find("?fail=1") != std::string::npos) {
    return Error::Permanent("instant_unavailable",
                            "instant video " + cmd.video_id + " is unavailable (fail marker)");
  }
  const auto file = ctx.media_dir / media::SanitizeId(cmd.video_id) / "media.bin";
  auto bytes = WriteTinyFile(file, 64);
  if (!bytes.ok()) return bytes.error();
  stage::StageOutput out;
  out.media_path = file.string();
  out.next_data = {{"media_path", out.media_path}};
  out.event_data = {{"bytes", *bytes}};
  return out;
}

Result<stage::StageOutput> ExtractAudio(const protocol::Command& cmd, stage::StageContext& ctx) {
  const fs::path input = cmd.data.at("media_path").get<std::string>();
  const auto output = ctx.media_dir / media::SanitizeId(cmd.video_id) / "audio.wav";
  std::error_code ec;
  std::uint64_t bytes = 0;
  if (fs::exists(output, ec)) {
    bytes = fs::file_size(output, ec);  // a redelivery after the first run finished
  } else {
    auto written = WriteTinyFile(output, 44);
    if (!written.ok()) return written.error();
    bytes = *written;
  }
  RemoveQuietly(input);
  stage::StageOutput out;
  out.audio_path = output.string();
  out.next_data = {{"audio_path", out.audio_path}};
  out.event_data = {{"audio_seconds", 15.0}, {"bytes", bytes}};
  return out;
}

Result<stage::StageOutput> Transcribe(const protocol::Command& cmd, stage::StageContext& ctx) {
  const fs::path wav = cmd.data.at("audio_path").get<std::string>();
  auto existing = ctx.docs->Get(protocol::kTranscriptsCollection, cmd.video_id);
  if (!existing.ok()) return existing.error();
  asr::Transcript transcript;
  bool reused = false;
  if (existing->has_value()) {
    if (auto stored = asr::TranscriptFromJson(**existing); stored.ok()) {
      transcript = *stored;
      reused = true;
    }
  }
  if (!reused) {
    transcript = MakeTranscript(cmd.video_id, ctx.claim.title);
    auto stored =
        ctx.docs->Upsert(protocol::kTranscriptsCollection, cmd.video_id, asr::ToJson(transcript));
    if (!stored.ok()) return stored.error();
  }
  RemoveQuietly(wav);
  std::error_code ec;
  fs::remove(wav.parent_path(), ec);  // the per-video directory, when empty
  stage::StageOutput out;
  out.event_data = {{"engine", transcript.engine},
                    {"segments", transcript.segments.size()},
                    {"audio_seconds", transcript.audio_seconds},
                    {"reused", reused}};
  return out;
}

Result<stage::StageOutput> Summarize(const protocol::Command& cmd, stage::StageContext& ctx) {
  auto doc = ctx.docs->Get(protocol::kTranscriptsCollection, cmd.video_id);
  if (!doc.ok()) return doc.error();
  if (!doc->has_value()) {
    return Error::Permanent("transcript_missing", "no transcript stored for video " + cmd.video_id);
  }
  auto transcript = asr::TranscriptFromJson(**doc);
  if (!transcript.ok()) return transcript.error();
  std::vector<std::string> sentences;
  for (const auto& s : transcript->segments) sentences.push_back(s.text);
  auto summary = summarize::SummarizeExtractive(sentences, summarize::SummarizeOptions{});
  if (!summary.ok()) return summary.error();
  auto stored =
      ctx.docs->Upsert(protocol::kSummariesCollection, cmd.video_id, summarize::ToJson(*summary));
  if (!stored.ok()) return stored.error();
  stage::StageOutput out;
  out.event_data = {{"engine", summary->engine},
                    {"key_points", summary->key_points.size()},
                    {"summary_chars", summary->summary.size()}};
  return out;
}

Body BodyOf(protocol::Stage stage) {
  switch (stage) {
    case protocol::Stage::kDiscovery:
      return Discover;
    case protocol::Stage::kDownload:
      return Download;
    case protocol::Stage::kAudioExtraction:
      return ExtractAudio;
    case protocol::Stage::kTranscription:
      return Transcribe;
    case protocol::Stage::kSummarization:
      return Summarize;
  }
  return Discover;
}

}  // namespace

Result<InstantChannel> ParseInstantChannel(std::string_view url) {
  const auto invalid = [&] {
    return Error::Permanent("invalid_channel",
                            "not an instant channel (" + std::string(kChannelPrefix) +
                                "<N>[?fail=<K>]): " + std::string(url.substr(0, 200)));
  };
  if (url.substr(0, kChannelPrefix.size()) != kChannelPrefix) return invalid();
  auto rest = url.substr(kChannelPrefix.size());
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  InstantChannel channel;
  const auto n = ParsePositive(rest);
  if (!n || *n < 1 || *n > kMaxVideos) return invalid();
  channel.videos = *n;
  if (!query.empty()) {
    if (query.substr(0, 5) != "fail=") return invalid();
    const auto k = ParsePositive(query.substr(5));
    if (!k) return invalid();
    channel.fail_every = *k;
  }
  return channel;
}

std::string InstantChannelUrl(int videos, int fail_every) {
  std::string url = std::string(kChannelPrefix) + std::to_string(videos);
  if (fail_every > 0) url += "?fail=" + std::to_string(fail_every);
  return url;
}

std::string InstantVideoId(std::string_view job_id, int index) {
  return "i" + std::string(job_id.substr(0, 8)) + "-" + std::to_string(index);
}

stage::StageDefinition Definition(protocol::Stage stage) {
  stage::StageDefinition def;
  def.stage = stage;
  def.default_concurrency = stage == protocol::Stage::kDiscovery ? 1 : 2;
  def.job_level = stage == protocol::Stage::kDiscovery;
  def.needs_docstore =
      stage == protocol::Stage::kTranscription || stage == protocol::Stage::kSummarization;
  def.configure = [stage](ConfigReader& env,
                          stage::StageDefinition& self) -> stage::HandlerFactory {
    const auto max_delay = env.Duration("INSTANT_MAX_DELAY", std::chrono::milliseconds(0));
    // The video stages' handlers take microseconds: short (batch claimed and recorded in one
    // transaction) unless INSTANT_LEASED=1 asks for the long path of the media stages (a claim
    // commit with a lease, one delivery per worker at a time). Discovery is always long.
    const bool leased = env.Bool("INSTANT_LEASED", false);
    self.short_handler = stage != protocol::Stage::kDiscovery && !leased;
    const Body body = BodyOf(stage);
    return [max_delay, body] {
      return [max_delay, body](const protocol::Command& cmd,
                               stage::StageContext& ctx) -> Result<stage::StageOutput> {
        RandomDelay(max_delay, ctx.should_stop);
        return body(cmd, ctx);
      };
    };
  };
  return def;
}

}  // namespace chansum::instant
