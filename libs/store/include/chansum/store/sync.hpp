#pragma once
// Issue 6 state: stages skipped by captions, videos reused by incremental sync, digest claims.
// Same rules as store.hpp: the caller's transaction, quick statements only.
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "chansum/protocol/command.hpp"

namespace chansum::store {

// Records in the video's timings that `stages` were skipped: timings.<stage> = {"skipped": true,
// "reason": reason}. GET /jobs/{id} shows them per video (timings and skipped_stages).
void RecordSkippedStages(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                         const std::vector<protocol::Stage>& stages, const std::string& reason);

// A just-discovered video whose results already exist (incremental sync): pending -> skipped at
// the last stage with `reason`, finished now. False when the row was not pending at download.
bool MarkVideoReused(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                     const std::string& reason);

// Finished jobs (completed, completed_with_errors, failed, cancelled) without a digest that
// finished at or after `since` (RFC 3339; the orchestrator's start, so a deployment sharing the
// database does not digest old jobs of others), oldest first, locked FOR UPDATE SKIP LOCKED
// (another orchestrator takes the others).
[[nodiscard]] std::vector<std::string> ClaimJobsWithoutDigest(pqxx::work& txn, int limit,
                                                              const std::string& since);
void MarkDigestBuilt(pqxx::work& txn, const std::string& job_id);

}  // namespace chansum::store
