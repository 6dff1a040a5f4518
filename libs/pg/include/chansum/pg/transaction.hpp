#pragma once
// WithTransaction: run a short piece of work in one pqxx::work on a pooled connection and commit.
//
//   Result<std::string> state = pg::WithTransaction(pool, [&](pqxx::work& txn) {
//     return txn.exec_params1("SELECT state FROM jobs WHERE id = $1", id)[0].as<std::string>();
//   });
//
// What `f` returns decides the result type:
//   void       -> Status (Result<Ok>)          f returned: commit
//   Result<T>  -> Result<T>                    ok: commit; an Error: roll back and return it
//   T          -> Result<T>                    f returned: commit
//
// Failures thrown by libpqxx (pqxx::failure and subclasses) become Errors via
// ErrorFromException(): connection loss is transient, SQL errors are classified by SQLSTATE
// (ClassifySqlState), and a lost connection during COMMIT is transient "pg_commit_unknown" (the
// commit may have happened; it is NOT retried). The whole transaction is retried ONCE, on a fresh
// connection when the old one broke, after pqxx::broken_connection, serialization_failure (40001)
// or deadlock_detected (40P01). So `f` may run twice: it must do nothing outside the database
// that cannot be repeated. Other exceptions from `f` (programming errors) roll back and propagate.
//
// Keep `f` quick: no network calls, file work or waiting inside; a transaction holds locks.
#include <optional>
#include <type_traits>
#include <utility>

#include <pqxx/pqxx>

#include "chansum/common/result.hpp"
#include "chansum/pg/pool.hpp"

namespace chansum::pg {

namespace detail {

template <class R>
struct TxnResult {
  using type = Result<R>;
};
template <>
struct TxnResult<void> {
  using type = Status;
};
template <class T>
struct TxnResult<Result<T>> {
  using type = Result<T>;
};
template <class R>
inline constexpr bool kIsResult = false;
template <class T>
inline constexpr bool kIsResult<Result<T>> = true;

inline constexpr int kTransactionAttempts = 2;

// Decides what a pqxx::failure thrown during attempt `attempt` means: nullopt = retry (the lease is
// marked broken when its connection is), otherwise the Error to return.
[[nodiscard]] std::optional<Error> OnTransactionFailure(ConnectionPool::Lease& lease,
                                                        const pqxx::failure& e, int attempt);

}  // namespace detail

template <class F>
using TransactionResult =
    typename detail::TxnResult<std::remove_cvref_t<std::invoke_result_t<F&, pqxx::work&>>>::type;

template <class F>
[[nodiscard]] TransactionResult<F> WithTransaction(ConnectionPool& pool, F&& f) {
  using R = std::remove_cvref_t<std::invoke_result_t<F&, pqxx::work&>>;
  for (int attempt = 1;; ++attempt) {
    auto lease = pool.Acquire();
    if (!lease.ok()) return std::move(lease).error();
    try {
      pqxx::work txn(**lease);
      if constexpr (std::is_void_v<R>) {
        f(txn);
        txn.commit();
        return OkStatus();
      } else if constexpr (detail::kIsResult<R>) {
        R result = f(txn);
        if (result.ok()) txn.commit();  // an Error: pqxx::work rolls back when destroyed
        return result;
      } else {
        R value = f(txn);
        txn.commit();
        return TransactionResult<F>(std::move(value));
      }
    } catch (const pqxx::failure& e) {
      if (auto error = detail::OnTransactionFailure(*lease, e, attempt)) return *std::move(error);
    }
  }
}

}  // namespace chansum::pg
