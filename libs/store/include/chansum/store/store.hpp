#pragma once
// Application data in PostgreSQL: jobs and videos, and the state transitions of the pipeline.
// Every function takes the caller's transaction so that a state change and the outbox rows it
// causes commit together (see libs/outbox). Functions here are quick: no slow work inside.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chansum/common/result.hpp"
#include "chansum/pg/migrate.hpp"
#include "chansum/protocol/command.hpp"

namespace chansum::store {

// The schema's migrations (libs/store/migrations/*.sql, embedded at build time).
[[nodiscard]] std::vector<pg::Migration> Migrations();
// Applies them under the advisory lock "chansum.schema". Safe from many processes at once.
[[nodiscard]] Result<int> Migrate(pqxx::connection& conn);

// ---------------------------------------------------------------------------- jobs
struct NewJob {
  std::string id;
  std::string channel;
  std::string channel_url;
  nlohmann::json options = nlohmann::json::object();
  std::string trace_id;
};
void InsertJob(pqxx::work& txn, const NewJob& job);

// Full view for GET /jobs/{id}: job fields, counts by stage and state, and one entry per video.
[[nodiscard]] std::optional<nlohmann::ordered_json> GetJobView(pqxx::work& txn,
                                                               const std::string& job_id);
// Newest first. `before` is an opaque cursor from a previous page ("" for the first page).
struct JobPage {
  nlohmann::ordered_json jobs = nlohmann::ordered_json::array();
  std::string next_cursor;  // empty when there are no more
};
[[nodiscard]] Result<JobPage> ListJobs(pqxx::work& txn, int limit, const std::string& before);

// ---------------------------------------------------------------------------- stage transitions
enum class Begin {
  kProceed,      // claimed: do the work
  kAlreadyDone,  // this stage already finished (redelivery): ack and do nothing
  kNotFound,     // no such job/video row
  kJobClosed,    // the job is cancelled or finished: skip
  kLeased,       // another worker holds a live lease on this work: it (or, if it dies, the
                 // sweeper) carries it on, so this delivery runs nothing. A live lease of the
                 // claiming worker itself is a leftover of its own earlier try and is taken over
};
[[nodiscard]] const char* ToString(Begin b) noexcept;

struct Claim {
  Begin outcome = Begin::kNotFound;
  int attempts = 0;  // attempts of this stage including this one
  std::string title;
  std::string job_trace_id;
  nlohmann::json job_options = nlohmann::json::object();
};

// Discovery (job level): queued -> running. kAlreadyDone when videos were already recorded,
// kLeased while another worker's discovery of the job holds a live lease.
[[nodiscard]] Claim BeginDiscovery(pqxx::work& txn, const std::string& job_id,
                                   const std::string& worker);

struct DiscoveredVideo {
  // The source-scoped key (media::KeyForEntry): "dQw4w9WgXcQ" for YouTube, "feed:<guid>:<hash>"
  // for a feed item. Documents and incremental sync go by it.
  std::string video_id;
  std::string title;
  std::string url;
  std::optional<double> duration_s;
  std::string published_at;  // RFC 3339 or empty
  // Non-empty: the video's results already exist (incremental sync); it ends `skipped` with this
  // reason instead of being downloaded (see store/sync.hpp MarkVideoReused).
  std::string reuse_reason;
  // Set: the video may not be fetched (its URL names a destination the fetch policy refuses,
  // libs/net); it is recorded and ends `failed` with this error instead of being downloaded.
  std::optional<Error> refused = std::nullopt;
  // Last and default-initialized, so positional initializers of the fields above keep working.
  std::string source{};     // "youtube", an extractor's name, "feed" (empty: unknown)
  std::string source_id{};  // the source's own id (YouTube id, feed <guid>), shown by the API
};
// Records the videos (idempotent) and the job's video_count. Returns the videos actually inserted.
std::vector<DiscoveredVideo> RecordDiscovery(pqxx::work& txn, const std::string& job_id,
                                             const std::vector<DiscoveredVideo>& videos);

// A video of a job, as commands name it.
struct VideoKey {
  std::string job_id;  // a UUID (callers check: a malformed one fails the whole statement)
  std::string video_id;
};

// A batch of video stages: pending -> running with `worker`'s lease, the attempt counted, all in
// one statement. Rows are locked in (job, video) order so concurrent batches cannot deadlock on
// them. The claims come back in the order of `keys`; a key that occurs again in the batch gets
// kAlreadyDone (the first occurrence runs).
//
// `in_place` (a short stage, whose claim and outcome commit together): the rows are only locked
// and left `pending`, no lease is written; the attempt number is computed, and the outcome
// (CompleteVideoStages / RetryVideoStage / FailVideo with `in_place`) records it. One row version
// and one change-feed row per video instead of two.
[[nodiscard]] std::vector<Claim> ClaimVideoStages(pqxx::work& txn,
                                                  const std::vector<VideoKey>& keys,
                                                  protocol::Stage stage, const std::string& worker,
                                                  int lease_seconds, bool in_place = false);
// One video (ClaimVideoStages of one key).
[[nodiscard]] Claim BeginVideoStage(pqxx::work& txn, const std::string& job_id,
                                    const std::string& video_id, protocol::Stage stage,
                                    const std::string& worker, int lease_seconds);

struct StageDone {
  std::optional<protocol::Stage> next_stage;  // nullopt: the video is done
  std::string media_path;                     // set when non-empty
  std::string audio_path;                     // set when non-empty
  int attempts = 0;                           // in place: the claim's attempt number
};
// running -> (next stage, pending) or done, for a batch in one statement. completed[i] is false
// when the row was not running this stage (a duplicate delivery finished it first); then the
// caller emits nothing for it.
// `in_place`: the rows were claimed in place in this transaction (still `pending`).
[[nodiscard]] std::vector<bool> CompleteVideoStages(
    pqxx::work& txn, protocol::Stage stage,
    const std::vector<std::pair<VideoKey, StageDone>>& completions, bool in_place = false);
// One video (CompleteVideoStages of one).
bool CompleteVideoStage(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                        protocol::Stage stage, const StageDone& done);
// held[i]: the video is `running` at `stage` under `worker`'s lease. Locks those rows (FOR
// UPDATE, in key order), so the caller's outcome cannot race with the sweeper requeueing them.
[[nodiscard]] std::vector<bool> HeldVideoLeases(pqxx::work& txn, const std::vector<VideoKey>& keys,
                                                protocol::Stage stage, const std::string& worker);
// running -> pending with the error recorded (a retry is scheduled by the caller). `attempts` > 0:
// claimed in place (still pending), the attempt number to record.
bool RetryVideoStage(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                     protocol::Stage stage, const Error& error, int attempts = 0);
// pending/running at `stage` -> failed with the error and its class (and `attempts` when > 0: a
// claim in place). False when the row is not at
// that stage (a late duplicate of an earlier stage must not fail a video that moved on).
bool FailVideo(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
               protocol::Stage stage, const Error& error, int attempts = 0);

// Job-level failure (discovery failed): the job ends `failed` with the reason.
void FailJob(pqxx::work& txn, const std::string& job_id, const Error& error);
// When no video is pending or running, the job ends `completed` (all done) or
// `completed_with_errors` (some failed). Returns the new state when this call finished the job.
std::optional<std::string> FinishJobIfComplete(pqxx::work& txn, const std::string& job_id);

// A job's totals (for its job.completed event): state, video_count (0 before discovery), videos
// done and failed, and duration_ms from started_at (or created_at) to finished_at (or now).
struct JobTotals {
  std::string state;
  int video_count = 0;
  int done = 0;
  int failed = 0;
  std::int64_t duration_ms = 0;
};
[[nodiscard]] std::optional<JobTotals> GetJobTotals(pqxx::work& txn, const std::string& job_id);

}  // namespace chansum::store
