#pragma once
// The pipeline's state machine: every transition of a job or a video together with the commands
// and domain events it causes, written in the caller's transaction (the transactional outbox).
// The stage runner, the orchestrator's sweeper, retry and dead-letter recorder all go through
// here, so a transition's SQL and its messages exist once. Transitions take batches: a stage
// runner claims and completes a whole batch of deliveries with one statement each, and every
// outbox row a transaction causes is written by one multi-row INSERT (Effects::Flush).
//
// Nothing here knows a broker or a handler: the runner does the work and passes its result in.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/outbox/outbox.hpp"
#include "chansum/protocol/command.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/store/store.hpp"

namespace chansum::pipeline {

// What a stage's work produced (the runner's handlers return it as stage::StageOutput).
struct StageOutput {
  std::vector<store::DiscoveredVideo> discovered;        // discovery: one download each
  nlohmann::json next_data = nlohmann::json::object();   // data of the next stage's command
  std::string media_path;                                // recorded on the video row
  std::string audio_path;                                // recorded on the video row
  nlohmann::json event_data = nlohmann::json::object();  // facts for the domain event
  // Jumps over stages: e.g. download found captions, so summarization comes next. The stages in
  // between are recorded as skipped (videos.timings.<stage> = {skipped, reason: skip_reason}) and
  // emit no event. nullopt: the next stage of the pipeline.
  std::optional<protocol::Stage> next_stage;
  std::string skip_reason;
  // Discovery of a subscription check: what the feed pre-check found (null when there was none):
  // {"listing": "full"|"feed", "feed_note": string, "feed_video_ids": [..] or null,
  //  "channel_id": string}. "feed": the feed showed nothing new, `discovered` is empty and no
  // listing ran.
  nlohmann::json check_facts = nullptr;
};

// Retries of transient failures.
struct RetryPolicy {
  int max_attempts = 5;
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_delay{60000};
};
// Delay before retry number `attempt` (1-based): base * 2^(attempt-1), capped, with jitter in
// [50%, 100%] of that.
[[nodiscard]] std::chrono::milliseconds RetryDelay(const RetryPolicy& policy, int attempt);
// The delay before retrying after `error`: RetryDelay, or the error's retry_after when that is
// longer (a host blocked for every worker, a Retry-After), so a video does not spend its retries
// against a host that is known to refuse it.
[[nodiscard]] std::chrono::milliseconds RetryDelay(const RetryPolicy& policy, int attempt,
                                                   const Error& error);
// How many tries a transient failure gets so that the delays between them add up to at least
// `budget` even at their shortest (50 % jitter): the retry budget is elapsed time, 2..100 tries.
[[nodiscard]] int AttemptsWithin(std::chrono::milliseconds budget, std::chrono::milliseconds base,
                                 std::chrono::milliseconds max_delay);
// The retry policy every process reads the same way: RETRY_BASE_DELAY (1s), RETRY_MAX_DELAY (60s)
// and MAX_ATTEMPTS when set, else as many tries as fit RETRY_FOR (default 5m: a transient outage
// of the database, the document store or an LLM of a few minutes fails no video; with the defaults
// that is 16 tries over 5 to 10 minutes). Permanent errors are never retried.
[[nodiscard]] RetryPolicy RetryPolicyFromEnv(ConfigReader& env);

// The data of the event that ends `stage` (video.downloaded, audio.extracted, ...): the contract's
// fields taken from the handler's facts (bytes, audio_seconds, engine, segments, key_points,
// summary_chars) plus duration_ms. A fact the handler did not report (e.g. a reused result) gets
// a neutral value (0, or "unknown" for the engine); other keys are dropped.
[[nodiscard]] nlohmann::json StageEventData(protocol::Stage stage, const nlohmann::json& facts,
                                            std::int64_t duration_ms);

// The outbox rows one transaction causes, written together by Flush.
class Effects {
 public:
  explicit Effects(std::string queue_prefix) : prefix_(std::move(queue_prefix)) {}

  // The command to its stage's queue ("<prefix><stage>", or with `queue_suffix`, e.g. ".retry"
  // with a per-message TTL for a delayed retry).
  void Command(const protocol::Command& cmd, const std::string& queue_suffix = "",
               std::optional<int> expiration_ms = std::nullopt);
  void Event(protocol::EventType type, const std::string& job_id, const std::string& video_id,
             const std::string& trace_id, nlohmann::json data);
  void VideoFailed(const std::string& job_id, const std::string& video_id,
                   const std::string& trace_id, protocol::Stage stage, const Error& error,
                   int attempts);
  // A message as it is (e.g. a malformed command to a .dlq queue).
  void Raw(outbox::Message message) { rows_.push_back(std::move(message)); }

  // Writes every collected row in one statement. The rows stay collected: a transaction that is
  // retried as a whole (pg::WithTransaction) writes them again.
  void Flush(pqxx::work& txn) const;
  [[nodiscard]] std::size_t size() const noexcept { return rows_.size(); }
  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }

 private:
  std::string prefix_;
  std::vector<outbox::Message> rows_;
};

// job.completed for a job that has ended (completed, completed_with_errors or failed); nothing
// for a job still running or cancelled.
void EmitJobCompleted(pqxx::work& txn, Effects& effects, const std::string& job_id,
                      const std::string& trace_id);
// Fails a job in discovery (its last attempt failed, its lease expired for good, it was stuck):
// the job row, its subscription check if it is one (`failed`, with subscription.checked) and its
// job.completed, in the caller's transaction. One path for the discovery stage, the sweeper and
// the watchdog.
void FailDiscoveryJob(pqxx::work& txn, Effects& effects, const std::string& job_id,
                      const std::string& trace_id, const Error& error);
// Ends each listed job (job id -> trace id) whose videos are all settled, and emits its
// job.completed. Jobs are locked in id order, so concurrent batches never deadlock on them.
// Returns the jobs this call ended with their new state.
std::map<std::string, std::string> FinishJobs(pqxx::work& txn, Effects& effects,
                                              const std::map<std::string, std::string>& jobs);
// A video failed at `stage` (pending, or running there): recorded, video.failed emitted and the
// job finished when it was its last. False when the video had moved on or ended (nothing written).
bool FailVideo(pqxx::work& txn, Effects& effects, const std::string& job_id,
               const std::string& video_id, const std::string& trace_id, protocol::Stage stage,
               const Error& error, int attempts);

// ------------------------------------------------------------------ a batch of video stages
struct VideoWork {
  protocol::Command cmd;
  store::Claim claim;
  // Set by the runner after the handler ran (claim.outcome == kProceed only).
  std::optional<Result<StageOutput>> result;
  std::int64_t ms = 0;
  // Set by RecordVideoOutcomes: a line for the log and the outcome kind for metrics (done,
  // retried, failed, skipped, duplicate).
  std::string summary;
  const char* kind = "skipped";
};

// Claims every command of the batch at `stage` (all of one stage) in one statement: rows locked
// in (job, video) order, pending -> running with `worker`'s lease, the attempt counted. Each
// work item's claim says whether to run the handler. A second command for the same video in the
// batch is a duplicate (kAlreadyDone). Videos of a cancelled job still pending are skipped here.
// `in_place` (a short stage: claim and outcome in one transaction): the rows are locked, not
// marked running, and no lease is written (see store::ClaimVideoStages); RecordVideoOutcomes must
// then be called with `in_place` too, in the same transaction.
void ClaimVideos(pqxx::work& txn, protocol::Stage stage, std::vector<VideoWork>& batch,
                 const std::string& worker, int lease_seconds, bool in_place = false);

// Keeps only the work `worker` still holds (running at `stage` under its lease), locking those
// rows: the sweeper may have handed a stalled worker's video to another one, and a cancel takes
// the lease too. The rest get kind "duplicate" or "skipped" and their result is dropped.
void KeepHeldVideos(pqxx::work& txn, protocol::Stage stage, std::vector<VideoWork>& batch,
                    const std::string& worker);

// Records every handler result of the batch: completions in one statement (next stage pending,
// or done), retries with their delayed command, failures with video.failed, each stage's
// completion event and next command, and job.completed for the jobs that ended.
void RecordVideoOutcomes(pqxx::work& txn, Effects& effects, const RetryPolicy& policy,
                         protocol::Stage stage, std::vector<VideoWork>& batch,
                         bool in_place = false);

// ------------------------------------------------------------------ discovery (job level)
// queued -> running and the job's discovery lease (the sweeper re-enqueues discovery when its
// worker dies).
[[nodiscard]] store::Claim ClaimDiscovery(pqxx::work& txn, const std::string& job_id,
                                          const std::string& worker, int lease_seconds);
// Records discovery's result: the videos, video.discovered for each new one, a download command
// for each (or the video reused from an earlier job), job.completed for an empty channel; or a
// delayed retry; or the job failed. Sets work.summary and work.kind. False when nothing is
// recorded: the job was cancelled meanwhile, or `worker` no longer holds the discovery lease (the
// sweeper gave the work to another worker, which owns the outcome — a duplicate must neither
// fail a job another discovery finished nor add videos to it).
bool RecordDiscovery(pqxx::work& txn, Effects& effects, const RetryPolicy& policy,
                     const std::string& worker, VideoWork& work);

}  // namespace chansum::pipeline
