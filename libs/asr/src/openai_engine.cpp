#include "chansum/asr/openai_engine.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>

#include <spdlog/spdlog.h>

#include "chansum/asr/wav.hpp"
#include "chansum/openai/client.hpp"

namespace chansum::asr {
namespace {

void PutLe(std::string& out, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::string Trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

std::vector<float> FrameEnergies(const std::vector<std::int16_t>& samples,
                                 std::size_t frame_samples) {
  std::vector<float> out;
  if (frame_samples == 0) return out;
  for (std::size_t i = 0; i < samples.size(); i += frame_samples) {
    const std::size_t end = std::min(samples.size(), i + frame_samples);
    double sum = 0;
    for (std::size_t j = i; j < end; ++j) sum += static_cast<double>(samples[j]) * samples[j];
    out.push_back(static_cast<float>(std::sqrt(sum / static_cast<double>(end - i))));
  }
  return out;
}

std::vector<AudioChunk> PlanChunks(const std::vector<float>& frame_rms, std::uint64_t total_samples,
                                   const ChunkOptions& options) {
  std::vector<AudioChunk> chunks;
  const auto frame = static_cast<std::uint64_t>(std::llround(options.frame_seconds * 16000));
  const auto max_samples =
      std::max<std::uint64_t>(frame, static_cast<std::uint64_t>(options.max_chunk_seconds * 16000));
  const auto min_samples = static_cast<std::uint64_t>(static_cast<double>(max_samples) *
                                                      std::clamp(options.min_fraction, 0.0, 1.0));
  const auto half_window = static_cast<std::size_t>(
      std::max(0.0, std::round(options.quiet_seconds / options.frame_seconds / 2)));
  std::uint64_t pos = 0;
  while (pos < total_samples) {
    if (total_samples - pos <= max_samples) {
      chunks.push_back({pos, total_samples - pos});
      break;
    }
    // Candidate cut points: frame boundaries in [pos + min, pos + max].
    const std::uint64_t lo =
        (pos + std::max<std::uint64_t>(min_samples, frame) + frame - 1) / frame;
    const std::uint64_t hi = (pos + max_samples) / frame;
    std::uint64_t best = hi;
    double best_energy = INFINITY;
    for (std::uint64_t f = hi; f >= lo && f > 0; --f) {
      // Mean energy of the frames around boundary f (f - half .. f + half - 1).
      double sum = 0;
      std::size_t n = 0;
      const std::size_t from = f > half_window ? static_cast<std::size_t>(f) - half_window : 0;
      const std::size_t to = std::min(
          frame_rms.size(), static_cast<std::size_t>(f) + half_window + (half_window == 0 ? 1 : 0));
      for (std::size_t i = from; i < to; ++i) {
        sum += frame_rms[i];
        ++n;
      }
      const double energy = n > 0 ? sum / static_cast<double>(n) : 0;
      if (energy < best_energy - 1e-9) {
        best_energy = energy;
        best = f;
      }
    }
    const std::uint64_t cut = std::min(best * frame, pos + max_samples);
    chunks.push_back({pos, cut - pos});
    pos = cut;
  }
  return chunks;
}

Result<std::vector<AudioChunk>> PlanWavChunks(const std::filesystem::path& wav,
                                              const ChunkOptions& options) {
  auto info = ReadWavInfo(wav);
  if (!info.ok()) return info.error();
  const auto frame = static_cast<std::size_t>(std::llround(options.frame_seconds * 16000));
  std::ifstream in(wav, std::ios::binary);
  if (!in) return Error::Transient("io_error", wav.string() + ": cannot open");
  in.seekg(static_cast<std::streamoff>(info->data_offset));
  const std::uint64_t total = info->frames();
  std::vector<float> energies;
  energies.reserve(static_cast<std::size_t>(total / frame + 1));
  std::vector<std::int16_t> block;
  const std::size_t block_frames = 200;  // 10 s per read
  std::uint64_t done = 0;
  while (done < total) {
    const auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>(total - done, frame * block_frames));
    block.resize(n);
    if (!in.read(reinterpret_cast<char*>(block.data()), static_cast<std::streamsize>(n * 2))) {
      return Error::Transient("io_error", wav.string() + ": short read");
    }
    auto e = FrameEnergies(block, frame);
    energies.insert(energies.end(), e.begin(), e.end());
    done += n;
  }
  return PlanChunks(energies, total, options);
}

Result<std::string> ChunkWavBytes(const std::filesystem::path& wav, const AudioChunk& chunk) {
  auto info = ReadWavInfo(wav);
  if (!info.ok()) return info.error();
  const std::uint64_t bytes = chunk.samples * 2;
  std::string out;
  out.reserve(static_cast<std::size_t>(44 + bytes));
  out += "RIFF";
  PutLe(out, static_cast<std::uint32_t>(36 + bytes), 4);
  out += "WAVEfmt ";
  PutLe(out, 16, 4);
  PutLe(out, 1, 2);
  PutLe(out, 1, 2);
  PutLe(out, 16000, 4);
  PutLe(out, 32000, 4);
  PutLe(out, 2, 2);
  PutLe(out, 16, 2);
  out += "data";
  PutLe(out, static_cast<std::uint32_t>(bytes), 4);
  std::ifstream in(wav, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(info->data_offset + chunk.first_sample * 2));
  const std::size_t header = out.size();
  out.resize(header + static_cast<std::size_t>(bytes));
  if (!in || !in.read(out.data() + header, static_cast<std::streamsize>(bytes))) {
    return Error::Transient("io_error", wav.string() + ": short read");
  }
  return out;
}

std::vector<Segment> StitchChunk(const nlohmann::json& answer, const AudioChunk& chunk) {
  std::vector<Segment> out;
  const double offset = chunk.start_seconds();
  const double end_of_chunk = offset + chunk.seconds();
  auto place = [&](double start, double end, const std::string& text) {
    Segment s;
    s.start = std::clamp(offset + start, offset, end_of_chunk);
    s.end = std::clamp(offset + end, s.start, end_of_chunk);
    s.text = Trim(text);
    if (!s.text.empty()) out.push_back(std::move(s));
  };
  if (answer.contains("segments") && answer["segments"].is_array() && !answer["segments"].empty()) {
    for (const auto& seg : answer["segments"]) {
      if (!seg.is_object() || !seg.contains("text") || !seg["text"].is_string()) continue;
      const double start = seg.value("start", 0.0);
      const double end = seg.value("end", start);
      place(start, end, seg["text"].get<std::string>());
    }
  } else if (answer.contains("text") && answer["text"].is_string()) {
    place(0, chunk.seconds(), answer["text"].get<std::string>());
  }
  return out;
}

struct OpenAiEngine::Impl {
  AsrConfig config;
  openai::Client client;
  Impl(const AsrConfig& c, openai::ClientOptions o) : config(c), client(std::move(o)) {}
};

OpenAiEngine::OpenAiEngine(const AsrConfig& config)
    : impl_(std::make_unique<Impl>(config, config.api)) {}

std::string WhisperLanguageCode(const std::string& name) {
  // verbose_json names the detected language in English ("english", "german"); the transcript
  // records ISO 639-1 codes like the captions do. Names not in the table are kept as given.
  static const std::map<std::string, std::string> codes = {
      {"english", "en"},   {"german", "de"},     {"french", "fr"},  {"spanish", "es"},
      {"italian", "it"},   {"portuguese", "pt"}, {"dutch", "nl"},   {"polish", "pl"},
      {"russian", "ru"},   {"ukrainian", "uk"},  {"turkish", "tr"}, {"arabic", "ar"},
      {"hindi", "hi"},     {"japanese", "ja"},   {"korean", "ko"},  {"chinese", "zh"},
      {"swedish", "sv"},   {"norwegian", "no"},  {"danish", "da"},  {"finnish", "fi"},
      {"czech", "cs"},     {"greek", "el"},      {"hebrew", "he"},  {"indonesian", "id"},
      {"vietnamese", "vi"}};
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto it = codes.find(lower);
  if (it != codes.end()) return it->second;
  return lower.empty() ? std::string("und") : lower;
}

OpenAiEngine::~OpenAiEngine() = default;

Result<Transcript> OpenAiEngine::Transcribe(const std::filesystem::path& wav,
                                            const std::function<bool()>& should_stop) {
  const auto& config = impl_->config;
  ChunkOptions options;
  options.max_chunk_seconds = config.chunk_seconds;
  auto info = ReadWavInfo(wav);
  if (!info.ok()) return info.error();
  auto chunks = PlanWavChunks(wav, options);
  if (!chunks.ok()) return chunks.error();
  Transcript t;
  t.engine = TranscriptEngine(config);
  // ASR_LANGUAGE when set; else what the endpoint detected (below), "und" until it says.
  t.language = config.language.empty() ? "und" : config.language;
  t.audio_seconds = info->seconds();
  for (std::size_t i = 0; i < chunks->size(); ++i) {
    if (should_stop && should_stop()) return Error::Transient("cancelled", "shutting down");
    const auto& chunk = (*chunks)[i];
    auto bytes = ChunkWavBytes(wav, chunk);
    if (!bytes.ok()) return bytes.error();
    openai::Multipart form;
    form.fields = {{"model", config.api_model}, {"response_format", "verbose_json"}};
    if (!config.language.empty()) form.fields.emplace_back("language", config.language);
    form.files.push_back(
        {"file", "chunk" + std::to_string(i) + ".wav", "audio/wav", std::move(*bytes)});
    auto answer = impl_->client.PostMultipart("/audio/transcriptions", form, should_stop);
    if (!answer.ok()) return answer.error();
    if (!answer->is_object()) {
      return Error::Transient("asr_bad_response", "the transcription answer is not an object");
    }
    if (config.language.empty() && i == 0) {
      if (auto it = answer->find("language"); it != answer->end() && it->is_string()) {
        t.language = WhisperLanguageCode(it->get<std::string>());
      }
    }
    auto segments = StitchChunk(*answer, chunk);
    spdlog::debug("chunk {}/{} at {:.2f}s ({:.2f}s): {} segments", i + 1, chunks->size(),
                  chunk.start_seconds(), chunk.seconds(), segments.size());
    t.segments.insert(t.segments.end(), segments.begin(), segments.end());
  }
  t.text = JoinSegments(t.segments);
  return t;
}

}  // namespace chansum::asr
