#pragma once
// The job token budget (JOB_TOKEN_BUDGET), counted per job in PostgreSQL (job_token_usage). The
// runner opens it for a stage whose definition sets needs_token_budget and hands it to the handler
// through StageContext::tokens, so a stage that calls a paid API never opens a database itself.
#include <cstdint>
#include <string>

#include "chansum/common/result.hpp"

namespace chansum::pg {
class ConnectionPool;
}

namespace chansum::stage {

class TokenBudget {
 public:
  // `budget` 0 = unlimited (calls are still counted).
  TokenBudget(pg::ConnectionPool& pool, std::int64_t budget) : pool_(pool), budget_(budget) {}

  // Before a call: a permanent "token_budget_exceeded" error when the job's tokens so far plus
  // the call's `estimate` would pass the budget.
  [[nodiscard]] Status Reserve(const std::string& job_id, std::int64_t estimate);
  // After a call: its total tokens added to the job's count.
  [[nodiscard]] Status Add(const std::string& job_id, std::int64_t tokens);
  // The model and tokens of one video, on its row.
  [[nodiscard]] Status RecordVideo(const std::string& job_id, const std::string& video_id,
                                   const std::string& model, std::int64_t tokens);
  [[nodiscard]] std::int64_t budget() const noexcept { return budget_; }

 private:
  pg::ConnectionPool& pool_;
  const std::int64_t budget_;
};

}  // namespace chansum::stage
