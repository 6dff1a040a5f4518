#pragma once
// GET /jobs/{id} as pages of videos, and the version of a job's view behind its ETag (issue 14).
//
// The version of a job's view is (count, sum of seq) of its job_changes rows as one snapshot sees
// them. Every transaction that changes anything the view shows writes at least one such row
// (triggers of migrations 0004, 0011 and 0012), and rows are only added (retention deletes rows a
// day old, whose seq is below any row still being written), so two snapshots give the same version
// exactly when they show the same view. The orchestrator keeps the versions of the jobs being
// polled current in memory by following job_changes from snapshot to snapshot (PollJobChanges).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chansum/common/result.hpp"

namespace chansum::store {

struct JobVersion {
  std::int64_t changes = 0;   // job_changes rows of the job
  std::uint64_t seq_sum = 0;  // sum of their seq, modulo 2^64
  friend bool operator==(const JobVersion&, const JobVersion&) = default;
};

// Makes `txn` one REPEATABLE READ, READ ONLY snapshot. Must be its first statement.
void UseOneSnapshot(pqxx::work& txn);

// The job's version in the transaction's snapshot (call UseOneSnapshot first, so that it matches
// the view read in the same transaction).
[[nodiscard]] JobVersion ReadJobVersion(pqxx::work& txn, const std::string& job_id);

// Where a page of videos starts: after (position, video_id). Opaque to clients.
struct VideoCursor {
  std::int64_t position = 0;
  std::string video_id;
};
[[nodiscard]] std::string EncodeVideoCursor(const VideoCursor& cursor);
// Error "invalid_cursor" when `text` is not a cursor EncodeVideoCursor made.
[[nodiscard]] Result<VideoCursor> ParseVideoCursor(const std::string& text);

// The title a video was discovered with (its newest non-empty one over every job that listed it);
// nullopt when no job knows a title for it.
[[nodiscard]] std::optional<std::string> VideoTitle(pqxx::work& txn, const std::string& video_id);

// The view of GET /jobs/{id}: job fields, counts of the whole job, and the videos after `after`
// (all from the start when null) in (position, video_id) order, at most `limit` of them, with
// "videos_next_cursor" (null on the last page). nullopt when there is no such job.
[[nodiscard]] std::optional<nlohmann::ordered_json> GetJobViewPage(pqxx::work& txn,
                                                                   const std::string& job_id,
                                                                   int limit,
                                                                   const VideoCursor* after);

// One step of following job_changes from snapshot to snapshot, in ONE statement (one snapshot):
// the snapshot now, the (job_id, seq) of every row visible now that `previous_snapshot` did not
// see (none when it is empty: the first step only takes a snapshot), and the versions, as of the
// new snapshot, of the jobs in `load` (UUIDs).
struct ChangeFeedStep {
  std::string snapshot;  // pg_snapshot text: pass it as `previous_snapshot` next time
  std::vector<std::pair<std::string, std::int64_t>> changes;
  std::vector<std::pair<std::string, JobVersion>> loaded;
};
[[nodiscard]] ChangeFeedStep FollowJobChanges(pqxx::transaction_base& tx,
                                              const std::string& previous_snapshot,
                                              const std::vector<std::string>& load);

}  // namespace chansum::store
