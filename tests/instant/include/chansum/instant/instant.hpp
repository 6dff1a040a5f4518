#pragma once
// Instant-media stage handlers: the REAL stage runner (libs/stage) with handlers that do no media
// work, for tests and benchmarks of the control plane (queues, outbox, state, retries, events).
//
// Discovery recognizes a synthetic channel URL the orchestrator accepts:
//
//   http://instant.invalid/videos/<N>[?fail=<K>]
//
// -> N videos with ids "i<first 8 characters of the job id>-<index>" (index 1..N), so every job
// has its own videos and documents. With fail=K every K-th video fails permanently at download
// ("instant_unavailable"), like a video that is gone. Download and audio extraction write tiny
// files under MEDIA_DIR/<video id>/ (the next stage removes them, as the real stages do);
// transcription and summarization write a small transcript / summary document to the document
// store exactly like the real stages (collections "transcripts" and "summaries", keyed by video
// id, same document shapes; a redelivered transcription reuses the stored transcript).
//
// INSTANT_MAX_DELAY (duration, default 0): each handler call sleeps a random time in
// [0, INSTANT_MAX_DELAY], so faults injected by a test land while work is in flight.
// INSTANT_LEASED (bool, default false): the video stages run as long stages (claim commit with a
// lease, one delivery per worker at a time) instead of short ones (a batch claimed, handled and
// recorded in one transaction), so tests cover both paths of the runner.
#include <optional>
#include <string>
#include <string_view>

#include "chansum/common/result.hpp"
#include "chansum/stage/stage.hpp"

namespace chansum::instant {

inline constexpr std::string_view kChannelPrefix = "http://instant.invalid/videos/";

struct InstantChannel {
  int videos = 0;
  int fail_every = 0;  // 0 = none fail
};

// Parses a synthetic channel URL; a permanent "invalid_channel" error for anything else.
[[nodiscard]] Result<InstantChannel> ParseInstantChannel(std::string_view url);
// "http://instant.invalid/videos/<n>" (+ "?fail=<k>" when k > 0).
[[nodiscard]] std::string InstantChannelUrl(int videos, int fail_every = 0);
// The id of video `index` (1-based) of a job.
[[nodiscard]] std::string InstantVideoId(std::string_view job_id, int index);

// The definition of `stage` with instant handlers (RunStageService runs it).
[[nodiscard]] stage::StageDefinition Definition(protocol::Stage stage);

}  // namespace chansum::instant
