// WebVTT captions as yt-dlp writes them (media::ParseWebVtt, CaptionSegments): the text comes
// from whoever uploaded the captions. Properties: every cue and segment has finite times with
// 0 <= start <= end, cue lines and segment texts are non-empty and hold no line breaks.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chansum/media/webvtt.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto cues = chansum::media::ParseWebVtt(input);
  if (!cues.ok()) {
    CHANSUM_FUZZ_CHECK(!cues.error().transient() && !cues.error().message.empty());
    return 0;
  }
  for (const auto& cue : *cues) {
    CHANSUM_FUZZ_CHECK(std::isfinite(cue.start) && std::isfinite(cue.end));
    CHANSUM_FUZZ_CHECK(cue.start >= 0 && cue.end >= cue.start);
    for (const auto& line : cue.lines) {
      CHANSUM_FUZZ_CHECK(!line.empty() && line.find('\n') == std::string_view::npos);
    }
  }
  for (const auto& segment : chansum::media::CaptionSegments(*cues)) {
    CHANSUM_FUZZ_CHECK(std::isfinite(segment.start) && std::isfinite(segment.end));
    CHANSUM_FUZZ_CHECK(segment.start >= 0 && segment.end >= segment.start);
    CHANSUM_FUZZ_CHECK(!segment.text.empty());
  }
  return 0;
}
