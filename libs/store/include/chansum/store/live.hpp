#pragma once
// The live side of jobs: the change feed behind GET /jobs/{id}/events (table job_changes, written
// by triggers of migration 0004 in the same transaction as every job/video state change) and
// cancelling a job.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace chansum::store {

// ---------------------------------------------------------------------------- change feed
struct JobChange {
  std::int64_t seq = 0;
  std::string kind;  // "job" or "video"
  nlohmann::ordered_json payload;
  bool settled = false;  // older than the settle window: no lower seq can still commit
};

// Rows of `job_id` with seq > `after`, in seq order (at most `limit`). A row is `settled` when it
// was written more than `settle_ms` ago (transactions that write changes are short, so by then
// every row with a lower seq has committed or never will).
[[nodiscard]] std::vector<JobChange> ReadJobChanges(pqxx::work& txn, const std::string& job_id,
                                                    std::int64_t after, int settle_ms, int limit);

// The highest seq of the job's settled rows (0 when none): a snapshot taken now reflects every
// change up to it; unsettled rows above it are read with ReadJobChanges.
[[nodiscard]] std::int64_t SettledHighWater(pqxx::work& txn, const std::string& job_id,
                                            int settle_ms);

// The lowest seq still stored (0 when the table is empty) and the highest one. A resume point
// below the lowest stored seq may have lost rows to cleanup.
struct ChangeBounds {
  std::int64_t min_seq = 0;
  std::int64_t max_seq = 0;
};
[[nodiscard]] ChangeBounds GetChangeBounds(pqxx::work& txn);

// Job counts in the shape of GET /jobs/{id} "counts" ({"total", "by_state", "by_stage"}).
[[nodiscard]] nlohmann::ordered_json GetJobCounts(pqxx::work& txn, const std::string& job_id);

// Deletes change rows older than `retention_hours`. Returns how many.
std::int64_t DeleteOldJobChanges(pqxx::work& txn, int retention_hours);

// ---------------------------------------------------------------------------- cancel
enum class CancelOutcome {
  kCancelled,      // the job is now `cancelled`
  kNotFound,       // no such job
  kAlreadyClosed,  // the job had already finished (state in `state`)
};
struct CancelResult {
  CancelOutcome outcome = CancelOutcome::kNotFound;
  std::string state;  // the job's state after the call
  int skipped = 0;    // videos marked skipped
};
// queued/running -> cancelled: the job ends `cancelled` and every video still pending or running
// becomes `skipped` with last_error "cancelled"; finished videos are kept. A job that is unknown or
// already finished is left unchanged. Lock order videos -> job, as the stages take them.
[[nodiscard]] CancelResult CancelJob(pqxx::work& txn, const std::string& job_id);

// True when the job is cancelled. `lock` takes the job row FOR UPDATE (serializes with CancelJob).
[[nodiscard]] bool IsJobCancelled(pqxx::work& txn, const std::string& job_id, bool lock);

// A video of a cancelled job that is still pending/running (e.g. inserted by a discovery that
// raced the cancel) becomes `skipped` "cancelled". Returns true when it changed the row.
bool SkipVideoOfCancelledJob(pqxx::work& txn, const std::string& job_id,
                             const std::string& video_id);

}  // namespace chansum::store
