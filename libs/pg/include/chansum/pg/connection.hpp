#pragma once
// PostgreSQL configuration and connections (libpqxx 6.4).
//
// Rules (see libs/pg/README.md):
//   - a pqxx::connection belongs to one thread at a time (use ConnectionPool to share);
//   - keep transactions short; never do slow work (HTTP, media, ASR, LLM) inside one;
//   - outside a transaction libpqxx 6 silently reconnects and loses session state (SET, temp
//     tables, session advisory locks): never rely on session state. Per-session settings that
//     must survive reconnects (timeouts, search_path) go into the connection string (PgConfig).
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include <pqxx/pqxx>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"

namespace chansum::pg {

struct PgConfig {
  // DATABASE_URL (required): a libpq URI (postgresql://user:pass@host:port/db?...) or a
  // key=value connection string. Contains a secret: never log it as is (see RedactConninfo).
  std::string url;
  // PG_CONNECT_TIMEOUT (default 5s): libpq connect_timeout, rounded up to whole seconds.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  // PG_STATEMENT_TIMEOUT (optional, 0 = none): server-side statement_timeout for every session.
  std::chrono::milliseconds statement_timeout{0};
  // PG_SEARCH_PATH (optional): schema search path for every session, e.g. "test_abc,public".
  std::string search_path;

  // Reads the variables above; problems are collected by `env` (call env.Finish()).
  [[nodiscard]] static PgConfig FromEnv(ConfigReader& env);
};

// The libpq connection string for `config`: config.url plus connect_timeout and, when set, an
// `options` parameter carrying statement_timeout and search_path (startup parameters, so they
// survive libpqxx's silent reconnects). Contains the password.
[[nodiscard]] std::string ConnectionString(const PgConfig& config);

// `conninfo` (URI or key=value form) with any password replaced by "***", for logs and errors.
[[nodiscard]] std::string RedactConninfo(const std::string& conninfo);

// Opens a connection. A malformed URL is a permanent error ("pg_bad_url"); failing to connect
// (server down, refused, timeout, authentication) is transient ("pg_connect"). Messages never
// contain the password.
[[nodiscard]] Result<std::unique_ptr<pqxx::connection>> Connect(const PgConfig& config);

// Transient or permanent for a SQLSTATE. Transient: 40001 serialization_failure, 40P01
// deadlock_detected, class 08 (connection exception), class 53 (insufficient resources),
// 55P03 lock_not_available, 57014 query_canceled (statement timeout), 57P01-57P03 (server
// shutting down / starting). Everything else (syntax, constraint, data errors...) is permanent.
[[nodiscard]] ErrorClass ClassifySqlState(std::string_view sqlstate) noexcept;

// The SQLSTATE carried by a libpqxx exception, or "" when it has none. libpqxx 6 throws 40001 and
// 40P01 as pqxx::serialization_failure / pqxx::deadlock_detected, which are not pqxx::sql_error
// and carry no code: this maps them back.
[[nodiscard]] std::string SqlState(const std::exception& e);

// Turns an exception thrown by libpqxx into an Error: broken_connection -> transient
// "pg_connection_lost"; in_doubt_error -> transient "pg_commit_unknown" (the commit may or may not
// have happened); errors with a SQLSTATE (pqxx::sql_error, pqxx::transaction_rollback) -> "pg_sql"
// classified by ClassifySqlState (the message carries the SQLSTATE); any other exception ->
// permanent "pg_error". `context` prefixes the message.
[[nodiscard]] Error ErrorFromException(const std::exception& e, std::string_view context = {});

}  // namespace chansum::pg
