#pragma once
// Channel digests: built once a job has finished, stored in the document store `digests`
// {_id: job_id}. A loop in the orchestrator builds them for finished jobs (FOR UPDATE SKIP LOCKED,
// so several orchestrators share the work); GET /jobs/{id}/digest builds one on demand when it is
// missing (e.g. a job finished before the loop ran, or another document database).
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "chansum/protocol/documents.hpp"

#include "api.hpp"

namespace chansum::orchestrator {

// The stored digest of a finished job (built and stored first when missing, `rebuild`, or built
// for an earlier finish of the job: its `job_finished_at` is not the job's finished_at, e.g. after
// POST /jobs/{id}/retry).
// Errors: permanent "job_not_found", permanent "job_not_finished", transient store failures.
[[nodiscard]] Result<nlohmann::json> EnsureDigest(const ApiDeps& deps, const std::string& job_id,
                                                  bool rebuild = false);

// Builds the digests of up to `limit` jobs that finished since `since` (RFC 3339) and have none
// yet (digest_at NULL; a retry resets it). Reads each job in the transaction that claimed it:
// one pooled connection, however small the pool. Returns how many.
[[nodiscard]] Result<int> BuildPendingDigests(const ApiDeps& deps, int limit,
                                              const std::string& since);
[[nodiscard]] std::string NowRfc3339();

// The job view and the stored summaries/transcripts of its videos, for the export.
struct JobDocuments {
  nlohmann::json view;
  std::map<std::string, protocol::Summary> summaries;       // by video id
  std::map<std::string, protocol::Transcript> transcripts;  // by video id
};
[[nodiscard]] Result<JobDocuments> LoadJobDocuments(const ApiDeps& deps, const std::string& job_id,
                                                    bool with_transcripts);

[[nodiscard]] bool IsFinishedJobState(const std::string& state);

}  // namespace chansum::orchestrator
