#include "chansum/stage/token_budget.hpp"

#include <fmt/format.h>

#include "chansum/pg/pool.hpp"
#include "chansum/pg/transaction.hpp"
#include "chansum/store/token_usage.hpp"

namespace chansum::stage {

Status TokenBudget::Reserve(const std::string& job_id, std::int64_t estimate) {
  if (budget_ <= 0) return OkStatus();
  auto used = pg::WithTransaction(
      pool_, [&](pqxx::work& txn) { return store::JobTokensUsed(txn, job_id); });
  if (!used.ok()) return used.error();
  if (*used + estimate > budget_) {
    return Error::Permanent(
        "token_budget_exceeded",
        fmt::format("job token budget exceeded: {} of JOB_TOKEN_BUDGET={} tokens used, the "
                    "next LLM call may need {}",
                    *used, budget_, estimate));
  }
  return OkStatus();
}

Status TokenBudget::Add(const std::string& job_id, std::int64_t tokens) {
  auto total = pg::WithTransaction(
      pool_, [&](pqxx::work& txn) { return store::AddJobTokens(txn, job_id, tokens); });
  if (!total.ok()) return total.error();
  return OkStatus();
}

Status TokenBudget::RecordVideo(const std::string& job_id, const std::string& video_id,
                                const std::string& model, std::int64_t tokens) {
  return pg::WithTransaction(pool_, [&](pqxx::work& txn) {
    store::RecordVideoTokens(txn, job_id, video_id, model, tokens);
  });
}

}  // namespace chansum::stage
