#pragma once
// Token accounting of the LLM summarization backend (migration 0006): tokens spent per job, and
// the model and tokens of each video's summary. Quick statements on the caller's transaction.
#include <cstdint>
#include <string>

#include <pqxx/pqxx>

namespace chansum::store {

// Tokens the job has spent so far (0 when nothing was recorded).
[[nodiscard]] std::int64_t JobTokensUsed(pqxx::work& txn, const std::string& job_id);
// Adds one call's tokens to the job's total; returns the new total.
std::int64_t AddJobTokens(pqxx::work& txn, const std::string& job_id, std::int64_t tokens);
// Records the model and the tokens of a video's summary on its row.
void RecordVideoTokens(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                       const std::string& model, std::int64_t tokens);

}  // namespace chansum::store
