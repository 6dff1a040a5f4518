#include "chansum/store/token_usage.hpp"

namespace chansum::store {

std::int64_t JobTokensUsed(pqxx::work& txn, const std::string& job_id) {
  const auto rows =
      txn.exec_params("SELECT tokens FROM job_token_usage WHERE job_id = $1::uuid", job_id);
  return rows.empty() ? 0 : rows[0][0].as<std::int64_t>();
}

std::int64_t AddJobTokens(pqxx::work& txn, const std::string& job_id, std::int64_t tokens) {
  return txn
      .exec_params1(
          "INSERT INTO job_token_usage (job_id, tokens, calls) VALUES ($1::uuid, $2, 1) "
          "ON CONFLICT (job_id) DO UPDATE SET tokens = job_token_usage.tokens + EXCLUDED.tokens, "
          "calls = job_token_usage.calls + 1, updated_at = now() RETURNING tokens",
          job_id, tokens)[0]
      .as<std::int64_t>();
}

void RecordVideoTokens(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                       const std::string& model, std::int64_t tokens) {
  txn.exec_params(
      "UPDATE videos SET llm_model = $3, llm_tokens = $4 WHERE job_id = $1::uuid AND video_id = $2",
      job_id, video_id, model, tokens);
}

}  // namespace chansum::store
