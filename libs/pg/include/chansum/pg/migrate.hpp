#pragma once
// Versioned SQL migrations, applied at start by every process, safely at the same time.
//
// ApplyMigrations(conn, migrations, lock_name):
//   1. validates the list (ValidateMigrations);
//   2. takes the session advisory lock pg_advisory_lock(hashtext(lock_name)) — a second process
//      waits here until the first is done — and releases it on every path;
//   3. creates schema_migrations(version, name, checksum, applied_at) if missing (in the first
//      schema of the search_path, like the migrations' own unqualified tables);
//   4. checks every recorded migration against the list: a recorded version whose checksum differs
//      from the one given is a permanent "pg_migration_drift" error naming the version (an applied
//      migration was edited; nothing is applied). Recorded versions missing from the list (the
//      database is newer than this binary) are logged and otherwise ignored;
//   5. applies each pending migration in version order, each in its own transaction together with
//      its schema_migrations row, so a failed migration leaves nothing behind.
// Returns the number of migrations applied (0 when up to date).
//
// Migration SQL may hold many statements but must not contain BEGIN/COMMIT or statements that
// cannot run inside a transaction (CREATE INDEX CONCURRENTLY, VACUUM).
// libs/pg's CMake function chansum_embed_sql() turns a folder of NNNN_name.sql files into a
// function returning std::vector<Migration>.
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "chansum/common/result.hpp"

namespace chansum::pg {

struct Migration {
  int version = 0;   // > 0, unique, increasing
  std::string name;  // e.g. "create_jobs"
  std::string sql;
};

// Permanent "pg_migration_invalid" unless versions are positive and strictly increasing in list
// order, and every migration has a name and non-empty SQL.
[[nodiscard]] Status ValidateMigrations(const std::vector<Migration>& migrations);

// Hex SHA-256 of the SQL with CRLF line ends normalized to LF (so a checkout with Windows line
// endings does not count as drift). Stored in schema_migrations.checksum.
[[nodiscard]] std::string MigrationChecksum(std::string_view sql);

// See above. Errors: "pg_migration_invalid", "pg_migration_drift" (permanent);
// "pg_migration_failed" (a migration's SQL failed; class from its SQLSTATE); connection loss and
// losing the advisory lock to a reconnect are transient.
[[nodiscard]] Result<int> ApplyMigrations(pqxx::connection& conn,
                                          const std::vector<Migration>& migrations,
                                          std::string_view lock_name);

}  // namespace chansum::pg
