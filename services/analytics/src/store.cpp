#include "store.hpp"

#include <algorithm>

#include "chansum/common/strings.hpp"
#include "chansum/protocol/events.hpp"

namespace chansum::analytics {
namespace {

using nlohmann::json;

// The stages that end with a stage-completion event (all but discovery), in pipeline order.
std::vector<std::string> VideoStages() {
  std::vector<std::string> out;
  for (auto s : protocol::kAllStages) {
    if (protocol::StageCompletedEvent(s)) out.emplace_back(protocol::StageName(s));
  }
  return out;
}

constexpr const char* kOverall = "overall";

// RFC 3339 UTC with milliseconds, formatted by the server.
std::string Ts(const std::string& column) {
  return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
}

json NullableString(const pqxx::field& f) {
  return f.is_null() ? json(nullptr) : json(f.as<std::string>());
}

json NullableDouble(const pqxx::field& f) {
  return f.is_null() ? json(nullptr) : json(f.as<double>());
}

json Counts(pqxx::work& txn, const std::string& scope) {
  json events = json::object();
  for (auto t : protocol::kAllEventTypes) events[std::string(protocol::EventTypeName(t))] = 0;
  for (const auto& row :
       txn.exec_params("SELECT type, count FROM analytics_counts WHERE scope = $1", scope)) {
    events[row[0].as<std::string>()] = row[1].as<std::int64_t>();
  }
  return events;
}

json Videos(const json& events) {
  const std::int64_t discovered = events["video.discovered"].get<std::int64_t>();
  const std::int64_t done = events["summarization.completed"].get<std::int64_t>();
  const std::int64_t failed = events["video.failed"].get<std::int64_t>();
  return json{{"discovered", discovered},
              {"done", done},
              {"failed", failed},
              {"in_progress", std::max<std::int64_t>(0, discovered - done - failed)}};
}

// Per-stage duration statistics, percentiles by percentile_cont over the stored durations.
json Stages(pqxx::work& txn, const std::optional<std::string>& job_id) {
  json stages = json::object();
  for (const auto& s : VideoStages()) {
    stages[s] = json{{"count", 0},
                     {"p50_ms", nullptr},
                     {"p95_ms", nullptr},
                     {"avg_ms", nullptr},
                     {"max_ms", nullptr}};
  }
  const std::string select =
      "SELECT stage, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),"
      " percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms), avg(duration_ms)::float8,"
      " max(duration_ms) FROM analytics_stage_durations ";
  const pqxx::result rows =
      job_id ? txn.exec_params(select + "WHERE job_id = $1 GROUP BY stage", *job_id)
             : txn.exec(select + "GROUP BY stage");
  for (const auto& row : rows) {
    stages[row[0].as<std::string>()] = json{{"count", row[1].as<std::int64_t>()},
                                            {"p50_ms", NullableDouble(row[2])},
                                            {"p95_ms", NullableDouble(row[3])},
                                            {"avg_ms", NullableDouble(row[4])},
                                            {"max_ms", row[5].as<std::int64_t>()}};
  }
  return stages;
}

json Failures(pqxx::work& txn, const std::string& scope) {
  json by_class = {{"transient", 0}, {"permanent", 0}};
  json by_stage = json::object();
  for (const auto& s : VideoStages()) by_stage[s] = 0;
  json by_code = json::array();
  std::int64_t total = 0;
  for (const auto& row : txn.exec_params(
           "SELECT stage, error_class, error_code, count FROM analytics_failures WHERE scope = $1"
           " ORDER BY count DESC, stage, error_class, error_code",
           scope)) {
    const auto stage = row[0].as<std::string>();
    const auto cls = row[1].as<std::string>();
    const auto n = row[3].as<std::int64_t>();
    total += n;
    by_class[cls] = by_class.value(cls, std::int64_t{0}) + n;
    by_stage[stage] = by_stage.value(stage, std::int64_t{0}) + n;
    by_code.push_back(json{{"stage", stage},
                           {"error_class", cls},
                           {"error_code", row[2].as<std::string>()},
                           {"count", n}});
  }
  return json{
      {"total", total}, {"by_class", by_class}, {"by_stage", by_stage}, {"by_code", by_code}};
}

json Minutes(const pqxx::result& rows) {
  json out = json::array();
  for (const auto& row : rows) {
    const auto done = row[1].as<std::int64_t>();
    const auto failed = row[2].as<std::int64_t>();
    out.push_back(json{{"minute", row[0].as<std::string>()},
                       {"done", done},
                       {"failed", failed},
                       {"total", done + failed}});
  }
  return out;
}

}  // namespace

json SubscriptionChecks(pqxx::work& txn, const std::string& scope) {
  json by_outcome = {{"new_videos", 0}, {"no_new_videos", 0}, {"failed", 0}};
  std::int64_t total = 0;
  std::int64_t new_videos = 0;
  for (const auto& row : txn.exec_params(
           "SELECT outcome, checks, new_videos FROM analytics_subscription_checks WHERE scope = $1",
           scope)) {
    by_outcome[row[0].as<std::string>()] = row[1].as<std::int64_t>();
    total += row[1].as<std::int64_t>();
    new_videos += row[2].as<std::int64_t>();
  }
  return json{{"total", total}, {"by_outcome", by_outcome}, {"new_videos", new_videos}};
}

Result<int> Migrate(pqxx::connection& conn) {
  return pg::ApplyMigrations(conn, Migrations(), kMigrationLock);
}

bool ApplyEvent(pqxx::work& txn, const Event& e, const std::string& raw_payload,
                const RecordMeta& meta) {
  const pqxx::result inserted = txn.exec_params(
      "INSERT INTO analytics_events (event_id, type, job_id, video_id, occurred_at, trace_id,"
      " kafka_topic, kafka_partition, kafka_offset, payload)"
      " VALUES ($1, $2, $3, NULLIF($4, ''), $5::timestamptz, NULLIF($6, ''), $7, $8, $9,"
      " $10::jsonb) ON CONFLICT (event_id) DO NOTHING RETURNING 1",
      e.event_id, e.type, e.job_id, e.video_id, e.occurred_at, e.trace_id, meta.topic,
      meta.partition, meta.offset, raw_payload);
  if (inserted.empty()) return false;

  // Aggregates, always in the same table order (counts, durations, failures, minutes, jobs,
  // subscription checks) and within a statement job row before overall row, so concurrent
  // appliers cannot deadlock.
  const std::string& scope = e.job_id;
  if (e.type == "subscription.checked" && e.check_outcome == "no_new_videos") {
    // A check that found nothing new: its job was deleted, so it counts overall only (a job scope
    // would count it among the jobs seen). A failed check's job stays and is counted like any.
    txn.exec_params(
        "INSERT INTO analytics_counts (scope, type, count) VALUES ($1, $2, 1)"
        " ON CONFLICT (scope, type) DO UPDATE SET count = analytics_counts.count + 1",
        kOverall, e.type);
  } else {
    txn.exec_params(
        "INSERT INTO analytics_counts (scope, type, count) VALUES ($1, $3, 1), ($2, $3, 1)"
        " ON CONFLICT (scope, type) DO UPDATE SET count = analytics_counts.count + 1",
        scope, kOverall, e.type);
  }

  if (!e.stage.empty()) {
    txn.exec_params(
        "INSERT INTO analytics_stage_durations (event_id, job_id, stage, duration_ms, occurred_at)"
        " VALUES ($1, $2, $3, $4, $5::timestamptz)",
        e.event_id, e.job_id, e.stage, e.duration_ms, e.occurred_at);
  }
  if (e.type == "video.failed") {
    txn.exec_params(
        "INSERT INTO analytics_failures (scope, stage, error_class, error_code, count)"
        " VALUES ($1, $3, $4, $5, 1), ($2, $3, $4, $5, 1)"
        " ON CONFLICT (scope, stage, error_class, error_code)"
        " DO UPDATE SET count = analytics_failures.count + 1",
        scope, kOverall, e.failed_stage, e.error_class, e.error_code);
  }
  if (e.type == "summarization.completed" || e.type == "video.failed") {
    const int done = e.type == "summarization.completed" ? 1 : 0;
    txn.exec_params(
        "INSERT INTO analytics_finished_per_minute (scope, minute, done, failed)"
        " SELECT s, date_trunc('minute', $3::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',"
        " $4, $5 FROM unnest(ARRAY[$1, $2]::text[]) WITH ORDINALITY AS u(s, n) ORDER BY n"
        " ON CONFLICT (scope, minute) DO UPDATE SET"
        " done = analytics_finished_per_minute.done + EXCLUDED.done,"
        " failed = analytics_finished_per_minute.failed + EXCLUDED.failed",
        scope, kOverall, e.occurred_at, done, 1 - done);
  }
  if (e.type == "job.completed") {
    txn.exec_params(
        "INSERT INTO analytics_jobs (job_id, state, video_count, done, failed, duration_ms,"
        " completed_at, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $8)"
        " ON CONFLICT (job_id) DO UPDATE SET state = EXCLUDED.state,"
        " video_count = EXCLUDED.video_count, done = EXCLUDED.done, failed = EXCLUDED.failed,"
        " duration_ms = EXCLUDED.duration_ms, completed_at = EXCLUDED.completed_at,"
        " event_id = EXCLUDED.event_id WHERE analytics_jobs.completed_at <= EXCLUDED.completed_at",
        e.job_id, e.job_state, e.video_count, e.done, e.failed, e.job_duration_ms, e.occurred_at,
        e.event_id);
  }
  if (e.type == "subscription.checked") {
    txn.exec_params(
        "INSERT INTO analytics_subscription_checks (scope, outcome, checks, new_videos)"
        " VALUES ($1, $3, 1, $4), ($2, $3, 1, $4) ON CONFLICT (scope, outcome) DO UPDATE SET"
        " checks = analytics_subscription_checks.checks + 1,"
        " new_videos = analytics_subscription_checks.new_videos + EXCLUDED.new_videos",
        e.subscription_id, kOverall, e.check_outcome, e.new_videos);
  }
  return true;
}

bool StoreReject(pqxx::work& txn, const RecordMeta& meta, const std::string& payload,
                 const std::string& reason) {
  const pqxx::result r = txn.exec_params(
      "INSERT INTO analytics_rejects (kafka_topic, kafka_partition, kafka_offset, kafka_key,"
      " payload, reason) VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), $6)"
      " ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING RETURNING 1",
      meta.topic, meta.partition, meta.offset, chansum::HexLower(meta.key),
      chansum::HexLower(payload), reason);
  return !r.empty();
}

std::optional<json> QueryJob(pqxx::work& txn, const std::string& job_id) {
  const pqxx::row head = txn.exec_params1("SELECT count(*), " + Ts("min(occurred_at)") + ", " +
                                              Ts("max(occurred_at)") +
                                              " FROM analytics_events WHERE job_id = $1::uuid",
                                          job_id);
  if (head[0].as<std::int64_t>() == 0) return std::nullopt;
  std::string scope = job_id;
  for (auto& c : scope) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));

  json out;
  out["scope"] = "job";
  out["job_id"] = scope;
  out["first_event_at"] = NullableString(head[1]);
  out["last_event_at"] = NullableString(head[2]);
  out["events"] = Counts(txn, scope);
  out["events_total"] = head[0].as<std::int64_t>();
  out["videos"] = Videos(out["events"]);
  out["stages"] = Stages(txn, scope);
  out["failures"] = Failures(txn, scope);
  // Every minute from the job's first to its last finished video (at most the last 1440).
  out["finished_per_minute"] = Minutes(txn.exec_params(
      "WITH b AS (SELECT minute, done, failed FROM analytics_finished_per_minute"
      "           WHERE scope = $1),"
      " r AS (SELECT generate_series(greatest(min(minute), max(minute) - interval '1439 minutes'),"
      "                              max(minute), interval '1 minute') AS minute FROM b)"
      " SELECT " +
          Ts("r.minute") +
          ", coalesce(b.done, 0), coalesce(b.failed, 0)"
          " FROM r LEFT JOIN b USING (minute) ORDER BY r.minute",
      scope));
  const pqxx::result job =
      txn.exec_params("SELECT state, video_count, done, failed, duration_ms, " +
                          Ts("completed_at") + " FROM analytics_jobs WHERE job_id = $1::uuid",
                      job_id);
  if (job.empty()) {
    out["job"] = nullptr;
  } else {
    out["job"] = json{{"state", job[0][0].as<std::string>()},
                      {"video_count", job[0][1].as<std::int64_t>()},
                      {"done", job[0][2].as<std::int64_t>()},
                      {"failed", job[0][3].as<std::int64_t>()},
                      {"duration_ms", job[0][4].as<std::int64_t>()},
                      {"completed_at", job[0][5].as<std::string>()}};
  }
  return out;
}

json QueryOverall(pqxx::work& txn, int window_minutes) {
  json out;
  out["scope"] = "overall";
  out["events"] = Counts(txn, kOverall);
  std::int64_t total = 0;
  for (const auto& [_, n] : out["events"].items()) total += n.get<std::int64_t>();
  out["events_total"] = total;
  out["rejected_events"] =
      txn.exec1("SELECT count(*) FROM analytics_rejects")[0].as<std::int64_t>();
  out["videos"] = Videos(out["events"]);
  out["stages"] = Stages(txn, std::nullopt);
  out["failures"] = Failures(txn, kOverall);
  out["finished_per_minute_window"] = window_minutes;
  out["finished_per_minute"] = Minutes(
      txn.exec_params("WITH r AS (SELECT generate_series("
                      "   date_trunc('minute', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
                      "     - ($2::int - 1) * interval '1 minute',"
                      "   date_trunc('minute', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',"
                      "   interval '1 minute') AS minute)"
                      " SELECT " +
                          Ts("r.minute") +
                          ", coalesce(b.done, 0), coalesce(b.failed, 0)"
                          " FROM r LEFT JOIN analytics_finished_per_minute b"
                          "   ON b.scope = $1 AND b.minute = r.minute ORDER BY r.minute",
                      kOverall, window_minutes));
  json by_state = {{"completed", 0}, {"completed_with_errors", 0}, {"failed", 0}};
  std::int64_t completed = 0;
  for (const auto& row : txn.exec("SELECT state, count(*) FROM analytics_jobs GROUP BY state")) {
    by_state[row[0].as<std::string>()] = row[1].as<std::int64_t>();
    completed += row[1].as<std::int64_t>();
  }
  out["jobs"] =
      json{{"seen",
            txn.exec_params1("SELECT count(DISTINCT scope) FROM analytics_counts WHERE scope <> $1",
                             kOverall)[0]
                .as<std::int64_t>()},
           {"completed", completed},
           {"completed_by_state", by_state}};
  out["subscription_checks"] = SubscriptionChecks(txn, kOverall);
  return out;
}

}  // namespace chansum::analytics
