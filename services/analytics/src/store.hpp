#pragma once
// The analytics tables in PostgreSQL: schema migrations, applying one event (idempotently, inside
// the caller's transaction), storing rejects, and the read side behind the HTTP endpoints.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chansum/common/result.hpp"
#include "chansum/pg/migrate.hpp"
#include "event.hpp"

namespace chansum::analytics {

// Advisory lock name under which this service applies its migrations.
inline constexpr const char* kMigrationLock = "chansum.analytics";

// The embedded migrations (migrations/NNNN_name.sql; versions 1001 and up, see README).
std::vector<pg::Migration> Migrations();

// ApplyMigrations(conn, Migrations(), kMigrationLock): the number of migrations applied.
[[nodiscard]] Result<int> Migrate(pqxx::connection& conn);

// Where a record came from (stored with the event or the reject).
struct RecordMeta {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;
};

// Inserts the event into analytics_events (ON CONFLICT DO NOTHING) and, only when it was new,
// updates every aggregate (per job and overall) in the same transaction. Returns false for a
// duplicate (already applied: nothing changed). Throws what libpqxx throws.
bool ApplyEvent(pqxx::work& txn, const Event& event, const std::string& raw_payload,
                const RecordMeta& meta);

// Records a record that could not be applied (raw bytes and the reason). A record stored before
// (same topic/partition/offset, i.e. a redelivery) is not stored twice. Returns true when new.
bool StoreReject(pqxx::work& txn, const RecordMeta& meta, const std::string& payload,
                 const std::string& reason);

// The figures for one job; nullopt when no event of that job was applied. `job_id` must be a UUID.
[[nodiscard]] std::optional<nlohmann::json> QueryJob(pqxx::work& txn, const std::string& job_id);

// subscription.checked figures of a scope ("overall" or a lower-case subscription id):
// {"total", "by_outcome": {"new_videos", "no_new_videos", "failed"}, "new_videos": sum}.
[[nodiscard]] nlohmann::json SubscriptionChecks(pqxx::work& txn, const std::string& scope);

// The figures over all jobs (and `subscription_checks` over all subscriptions); finished_per_minute
// covers the last `window_minutes` minutes.
[[nodiscard]] nlohmann::json QueryOverall(pqxx::work& txn, int window_minutes = 60);

}  // namespace chansum::analytics
