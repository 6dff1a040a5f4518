#include "chansum/store/sync.hpp"

namespace chansum::store {

void RecordSkippedStages(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                         const std::vector<protocol::Stage>& stages, const std::string& reason) {
  for (auto stage : stages) {
    txn.exec_params(
        "UPDATE videos SET timings = jsonb_set(timings, ARRAY[$3], "
        "jsonb_build_object('skipped', true, 'reason', $4::text)), updated_at = now() "
        "WHERE job_id = $1::uuid AND video_id = $2",
        job_id, video_id, std::string(protocol::StageName(stage)), reason);
  }
}

bool MarkVideoReused(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                     const std::string& reason) {
  auto r = txn.exec_params(
      "UPDATE videos SET stage = 'summarization', state = 'skipped', skip_reason = $3, "
      "finished_at = now(), updated_at = now() "
      "WHERE job_id = $1::uuid AND video_id = $2 AND stage = 'download' AND state = 'pending' "
      "RETURNING 1",
      job_id, video_id, reason);
  return !r.empty();
}

std::vector<std::string> ClaimJobsWithoutDigest(pqxx::work& txn, int limit,
                                                const std::string& since) {
  std::vector<std::string> ids;
  for (const auto& row :
       txn.exec_params("SELECT id::text FROM jobs WHERE digest_at IS NULL "
                       "AND state IN ('completed', 'completed_with_errors', 'failed', 'cancelled') "
                       "AND finished_at >= $2::timestamptz "
                       "ORDER BY finished_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                       limit, since)) {
    ids.push_back(row[0].as<std::string>());
  }
  return ids;
}

void MarkDigestBuilt(pqxx::work& txn, const std::string& job_id) {
  txn.exec_params("UPDATE jobs SET digest_at = now() WHERE id = $1::uuid", job_id);
}

}  // namespace chansum::store
