#pragma once
// Reliability state in PostgreSQL: leases (renewal, expiry), dead letters and job retries.
// Like store.hpp, every function takes the caller's transaction so the state change and the
// outbox rows it causes commit together.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chansum/protocol/command.hpp"

namespace chansum::store {

// ---------------------------------------------------------------------------- leases
// Discovery's lease on its job: lease owner/expiry set and the claim counted
// (jobs.discovery_attempts). Returns the number of claims so far, this one included.
int ClaimDiscoveryLease(pqxx::work& txn, const std::string& job_id, const std::string& worker,
                        int lease_seconds);
// Clears the job's lease (discovery recorded its outcome).
void ReleaseDiscoveryLease(pqxx::work& txn, const std::string& job_id);
// True when `worker` still holds the discovery lease of a job not yet discovered (locks the job
// row): only then may it record discovery's outcome.
[[nodiscard]] bool HoldsDiscoveryLease(pqxx::work& txn, const std::string& job_id,
                                       const std::string& worker);

// Gives back the leases a process holds (its handlers were abandoned at shutdown): the videos go
// back to `pending`, the jobs lose their lease, so the requeued deliveries run at once on another
// worker instead of waiting for the leases to expire. Returns the rows released.
int ReleaseLeases(pqxx::work& txn,
                  const std::vector<std::pair<std::string, std::string>>& job_video_ids,
                  const std::vector<std::string>& job_ids, const std::string& worker);

// Pushes lease_expires_at to now + lease_seconds for the given rows that `worker` (the process, or
// one of its threads "<worker>/<n>") still holds
// (videos `running`, jobs `running` without video_count). Returns how many rows were renewed.
int RenewVideoLeases(pqxx::work& txn,
                     const std::vector<std::pair<std::string, std::string>>& job_video_ids,
                     const std::string& worker, int lease_seconds);
int RenewJobLeases(pqxx::work& txn, const std::vector<std::string>& job_ids,
                   const std::string& worker, int lease_seconds);

// True when the video is `running` at `stage` under `worker`'s lease. Locks the row (FOR UPDATE),
// so the caller's outcome cannot race with the sweeper requeueing it.
[[nodiscard]] bool HoldsVideoLease(pqxx::work& txn, const std::string& job_id,
                                   const std::string& video_id, protocol::Stage stage,
                                   const std::string& worker);

// A video whose lease expired while `running` (its worker died or stalled), locked FOR UPDATE
// SKIP LOCKED so that several sweepers never take the same row.
// A video row with what it takes to write its stage's command again.
struct VideoCommandRow {
  std::string job_id;
  std::string video_id;
  protocol::Stage stage = protocol::Stage::kDownload;
  int attempts = 0;
  std::string trace_id;  // the job's
  std::string url, title, media_path, audio_path;
};
struct ExpiredVideo : VideoCommandRow {
  std::string lease_owner;
};
[[nodiscard]] std::vector<ExpiredVideo> LockExpiredVideoLeases(pqxx::work& txn, int limit);
// The expired video back to `pending` (lease cleared, reason recorded as a transient error).
void RequeueExpiredVideo(pqxx::work& txn, const ExpiredVideo& video, const std::string& reason);

// A job `running` discovery (no video_count yet) whose discovery lease expired.
// What a job's discovery command is built again from (the sweeper's and the watchdog's rows).
struct DiscoveryCommandRow {
  std::string job_id;
  int attempts = 0;  // jobs.discovery_attempts: discovery claims so far
  std::string trace_id;
  std::string channel_url;
  nlohmann::json options = nlohmann::json::object();
};
struct ExpiredDiscovery : DiscoveryCommandRow {
  std::string lease_owner;
};
[[nodiscard]] std::vector<ExpiredDiscovery> LockExpiredDiscoveryLeases(pqxx::work& txn, int limit);
// Clears the job's lease (the sweeper re-enqueued discovery).
void ClearDiscoveryLease(pqxx::work& txn, const std::string& job_id);

// ---------------------------------------------------------------------------- the watchdog
// Work that sits non-terminal without progress: its command was lost (a purged queue, a lost
// delayed retry) and no lease will ever expire for it. "Without progress" is judged per stage, so
// that work waiting legitimately in a long queue is not taken for lost: a row qualifies only when
// its own updated_at is older than `stuck_after_s` AND its stage has made no progress in that time
// (no live lease at that stage and no claim of it by any video or job). A healthy queue behind
// slow work keeps claiming, so its waiting rows are left alone; a quiet stage with rows still
// waiting has lost their commands (or has no worker at all: then a re-enqueued command is a
// harmless duplicate: the claim drops a copy whose stage is already done or leased elsewhere).
// Locked FOR UPDATE SKIP LOCKED.
struct StuckVideo : VideoCommandRow {
  long long idle_s = 0;  // seconds since the row last changed
};
// Videos `pending` (of a queued/running job) as described above.
[[nodiscard]] std::vector<StuckVideo> LockStuckPendingVideos(pqxx::work& txn, int stuck_after_s,
                                                             int limit);
// The stuck video's command is written again: updated_at now, the re-enqueue counted as an
// attempt, the reason recorded as a transient error. It stays `pending`.
void TouchStuckVideo(pqxx::work& txn, const StuckVideo& video, const std::string& reason);

// Jobs whose discovery waits without a live lease: `queued` (the command was never claimed) or
// `running` without video_count and without a lease (the lease was released for a delayed retry
// that never came back), idle longer than `stuck_after_s` while no discovery ran meanwhile.
struct StuckDiscovery : DiscoveryCommandRow {
  std::string state;  // queued | running
  long long idle_s = 0;
};
[[nodiscard]] std::vector<StuckDiscovery> LockStuckDiscoveries(pqxx::work& txn, int stuck_after_s,
                                                               int limit);
// The stuck discovery is re-enqueued: updated_at now, discovery_attempts counted.
void TouchStuckDiscovery(pqxx::work& txn, const std::string& job_id);

// The `data` of a stage's command rebuilt from the video row (download: url and title; audio
// extraction: media_path; transcription: audio_path; summarization: {}). nullopt when the row
// lacks what the stage needs.
[[nodiscard]] std::optional<nlohmann::json> StageCommandData(protocol::Stage stage,
                                                             const std::string& url,
                                                             const std::string& title,
                                                             const std::string& media_path,
                                                             const std::string& audio_path);
// The `data` of a discovery command from the job's channel URL and options (max_videos and every
// filter): POST /jobs, the sweeper and retry all build it here.
[[nodiscard]] nlohmann::json DiscoveryCommandData(const std::string& channel_url,
                                                  const nlohmann::json& options);

// ---------------------------------------------------------------------------- dead letters
struct DeadLetter {
  std::string queue;
  std::string stage;  // empty when unknown
  std::string reason;
  nlohmann::json headers = nlohmann::json::object();
  std::string message_id;
  std::string body;
  std::string job_id;  // empty when the body did not say (or not as a UUID)
  std::string video_id;
};
// Records the message; false when the same (queue, message_id) was recorded before.
bool InsertDeadLetter(pqxx::work& txn, const DeadLetter& letter);
// Fails a video still pending at `stage` (or running there under an expired lease) with
// error_class "dead_lettered". A video running under a live lease is left alone: another copy of
// the command is being worked on (if that worker dies, the sweeper takes over). Returns its
// attempts when it failed it (nullopt when the video moved on, ended or is being worked on).
std::optional<int> FailVideoDeadLettered(pqxx::work& txn, const std::string& job_id,
                                         const std::string& video_id, protocol::Stage stage,
                                         const std::string& reason);
// Fails a job still in discovery (queued/running, no video_count) with error_class
// "dead_lettered". True when it did.
bool FailDiscoveryDeadLettered(pqxx::work& txn, const std::string& job_id,
                               const std::string& reason);
// Newest first; `job_id` empty = all jobs. `before_id` > 0 pages backwards.
[[nodiscard]] nlohmann::ordered_json ListDeadLetters(pqxx::work& txn, const std::string& job_id,
                                                     int limit, long long before_id);

// ---------------------------------------------------------------------------- retry
struct RetryVideo {
  std::string video_id;
  protocol::Stage stage = protocol::Stage::kDownload;
  std::string url, title, media_path, audio_path;
};
struct RetryPlan {
  bool found = false;
  std::string state;     // the job's state before the retry
  std::string trace_id;  // the job's
  std::string channel_url;
  nlohmann::json options = nlohmann::json::object();
  bool discovery = false;          // the job failed in discovery: discovery runs again
  std::vector<RetryVideo> videos;  // failed videos (dead-lettered included), locked
};
// Locks the job and its failed videos (FOR UPDATE) and says what a retry would requeue.
[[nodiscard]] RetryPlan PlanJobRetry(pqxx::work& txn, const std::string& job_id);
// Resets one planned video: pending at its stage, attempts 0, error and lease cleared.
void ResetVideoForRetry(pqxx::work& txn, const std::string& job_id, const std::string& video_id);
// The job back to `running` (or `queued` when discovery runs again), error and digest_at cleared
// (the digest is built again when it finishes again); marks the job's dead letters replayed.
void ReopenJobForRetry(pqxx::work& txn, const std::string& job_id, bool discovery);

}  // namespace chansum::store
