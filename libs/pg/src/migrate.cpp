#include "chansum/pg/migrate.hpp"

#include <cstdio>
#include <map>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "chansum/common/sha256.hpp"
#include "chansum/pg/connection.hpp"

namespace chansum::pg {
namespace {

// The session holding the advisory lock went away (libpqxx reconnected silently).
struct LockLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string Label(int version, const std::string& name) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d", version);
  return std::string(buf) + "_" + name;
}

// Inside a transaction: fails unless we are still on the session that took the advisory lock.
void CheckSameSession(pqxx::work& txn, int locked_pid) {
  const int pid = txn.exec1("SELECT pg_backend_pid()")[0].as<int>();
  if (pid != locked_pid) {
    throw LockLost("the connection was re-established (backend " + std::to_string(locked_pid) +
                   " -> " + std::to_string(pid) + "), so the migration lock was lost");
  }
}

struct Recorded {
  std::string name;
  std::string checksum;
};

}  // namespace

Status ValidateMigrations(const std::vector<Migration>& migrations) {
  std::string problems;
  auto add = [&problems](const std::string& p) { problems += (problems.empty() ? "" : "; ") + p; };
  int previous = 0;
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    const Migration& m = migrations[i];
    const std::string what =
        "migration #" + std::to_string(i + 1) + " (" + Label(m.version, m.name) + ")";
    if (m.version <= 0) {
      add(what + ": version must be positive");
    } else if (m.version <= previous) {
      add(what + ": version " + std::to_string(m.version) + " is not greater than the previous " +
          std::to_string(previous) + " (versions must be unique and increasing)");
    }
    if (m.name.empty()) add(what + ": name is empty");
    if (m.sql.find_first_not_of(" \t\r\n") == std::string::npos) add(what + ": SQL is empty");
    if (m.version > previous) previous = m.version;
  }
  if (problems.empty()) return OkStatus();
  return Error::Permanent("pg_migration_invalid", "invalid migrations: " + problems);
}

std::string MigrationChecksum(std::string_view sql) {
  std::string normalized;
  normalized.reserve(sql.size());
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == '\r' && i + 1 < sql.size() && sql[i + 1] == '\n') continue;
    normalized += sql[i];
  }
  return Sha256Hex(normalized);
}

Result<int> ApplyMigrations(pqxx::connection& conn, const std::vector<Migration>& migrations,
                            std::string_view lock_name) {
  if (auto valid = ValidateMigrations(migrations); !valid.ok()) return valid.error();
  const std::string lock(lock_name);

  // The lock and the pid are read in one statement, so `pid` is the session holding the lock.
  int pid = 0;
  try {
    pqxx::nontransaction ntx(conn);
    pid = ntx.exec_params1("SELECT pg_advisory_lock(hashtext($1)), pg_backend_pid()", lock)[1]
              .as<int>();
  } catch (const std::exception& e) {
    return ErrorFromException(e, "taking the migration lock \"" + lock + "\"");
  }
  // Released on every path below. If the session was lost, the server already released the
  // lock and the WHERE clause keeps us from touching anyone else's.
  struct Unlock {
    pqxx::connection& conn;
    const std::string& lock;
    int pid;
    ~Unlock() {
      try {
        pqxx::nontransaction ntx(conn);
        ntx.exec_params("SELECT pg_advisory_unlock(hashtext($1)) WHERE pg_backend_pid() = $2", lock,
                        pid);
      } catch (const std::exception& e) {
        spdlog::warn("releasing migration lock \"{}\": {}", lock, e.what());
      }
    }
  } unlock{conn, lock, pid};

  std::string step = "reading schema_migrations";
  try {
    std::map<int, Recorded> recorded;
    {
      pqxx::work txn(conn);
      CheckSameSession(txn, pid);
      txn.exec0(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version integer PRIMARY KEY,"
          " name text NOT NULL,"
          " checksum text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
      for (const auto& row : txn.exec("SELECT version, name, checksum FROM schema_migrations")) {
        recorded[row[0].as<int>()] = Recorded{row[1].as<std::string>(), row[2].as<std::string>()};
      }
      txn.commit();
    }

    std::string drift;
    std::map<int, const Migration*> known;
    for (const Migration& m : migrations) {
      known[m.version] = &m;
      auto it = recorded.find(m.version);
      if (it == recorded.end()) continue;
      const std::string checksum = MigrationChecksum(m.sql);
      if (it->second.checksum != checksum) {
        drift += (drift.empty() ? "" : "; ") + std::string("version ") + std::to_string(m.version) +
                 " (" + Label(m.version, m.name) + ") was applied with checksum " +
                 it->second.checksum + " but its SQL now has " + checksum;
      }
    }
    if (!drift.empty()) {
      return Error::Permanent("pg_migration_drift",
                              "applied migrations were changed: " + drift +
                                  ". Never edit an applied migration; add a new one instead");
    }
    for (const auto& [version, r] : recorded) {
      if (!known.contains(version)) {
        spdlog::warn("schema_migrations holds version {} ({}) that this program does not know",
                     version, r.name);
      }
    }

    int applied = 0;
    for (const Migration& m : migrations) {
      if (recorded.contains(m.version)) continue;
      step = "migration " + Label(m.version, m.name);
      try {
        pqxx::work txn(conn);
        CheckSameSession(txn, pid);
        txn.exec(m.sql);
        txn.exec_params0(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            m.version, m.name, MigrationChecksum(m.sql));
        txn.commit();
      } catch (const pqxx::sql_error& e) {
        Error error = ErrorFromException(e, step);
        error.code = "pg_migration_failed";
        return error;
      }
      spdlog::info("applied migration {}", Label(m.version, m.name));
      ++applied;
    }
    return applied;
  } catch (const LockLost& e) {
    return Error::Transient("pg_migration_lock_lost", step + ": " + e.what());
  } catch (const std::exception& e) {
    return ErrorFromException(e, step);
  }
}

}  // namespace chansum::pg
