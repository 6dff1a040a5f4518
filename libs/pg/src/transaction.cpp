#include "chansum/pg/transaction.hpp"

#include <spdlog/spdlog.h>

namespace chansum::pg::detail {

std::optional<Error> OnTransactionFailure(ConnectionPool::Lease& lease, const pqxx::failure& e,
                                          int attempt) {
  bool retry = false;
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    lease.MarkBroken();
    return ErrorFromException(e, "transaction");  // may have committed: never repeat it
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr || !lease->is_open()) {
    lease.MarkBroken();
    retry = true;
  } else {
    const std::string state = SqlState(e);
    retry = state == "40001" || state == "40P01";
  }
  Error error = ErrorFromException(e, "transaction");
  if (retry && attempt < kTransactionAttempts) {
    spdlog::warn("PostgreSQL transaction failed, retrying once: {}", error.message);
    return std::nullopt;
  }
  return error;
}

}  // namespace chansum::pg::detail
