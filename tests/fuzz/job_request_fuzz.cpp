// POST /jobs bodies and GET /jobs?limit= values as the orchestrator parses them. Properties: a
// body that parses has a channel URL that is safe to hand to yt-dlp and max_videos in 1..500; a
// limit that parses is in 1..100.
#include <cstddef>
#include <cstdint>
#include <string>

#include "chansum/media/channel.hpp"
#include "fuzz_check.hpp"
#include "job_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto job = chansum::orchestrator::ParseJobRequest(input);
  if (job.ok()) {
    CHANSUM_FUZZ_CHECK(job->max_videos >= 1 &&
                       job->max_videos <= chansum::orchestrator::kMaxMaxVideos);
    CHANSUM_FUZZ_CHECK(chansum::media::ValidateHttpUrl(job->channel_url).ok());
  } else {
    CHANSUM_FUZZ_CHECK(!job.error().code.empty() && !job.error().message.empty());
  }
  auto limit = chansum::orchestrator::ParseListLimit(input);
  if (limit.ok()) {
    CHANSUM_FUZZ_CHECK(*limit >= 1 && *limit <= chansum::orchestrator::kMaxListLimit);
  }
  return 0;
}
