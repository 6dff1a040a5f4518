#include "chansum/store/subscriptions.hpp"

#include <algorithm>
#include <cstdio>

namespace chansum::store {
namespace {

std::string S(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }

nlohmann::json NullableString(const pqxx::field& f) {
  return f.is_null() ? nlohmann::json(nullptr) : nlohmann::json(f.as<std::string>());
}

nlohmann::json Jsonb(const pqxx::field& f) {
  if (f.is_null()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(f.c_str(), nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

// Timestamps rendered by PostgreSQL in RFC 3339 UTC with milliseconds.
std::string Ts(const std::string& column) {
  return "to_char(" + column + R"( AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))";
}

// 21600 -> "6h", 90 -> "1m30s", 86400 -> "1d".
std::string FormatEvery(int seconds) {
  std::string out;
  const int parts[] = {86400, 3600, 60, 1};
  const char* units[] = {"d", "h", "m", "s"};
  for (int i = 0; i < 4; ++i) {
    if (seconds >= parts[i]) {
      out += std::to_string(seconds / parts[i]) + units[i];
      seconds %= parts[i];
    }
  }
  return out.empty() ? "0s" : out;
}

// The columns SummaryFromRow reads, of `subscriptions s`.
std::string SummaryColumns() {
  std::string sql = "s.id::text, s.channel, s.channel_url, s.every_s, s.options::text, s.paused, ";
  for (const char* column :
       {"s.created_at", "s.updated_at", "s.last_check_at", "s.next_check_at"}) {
    sql += Ts(column);
    sql += ", ";
  }
  sql +=
      "s.checks, (SELECT count(*) FROM subscription_checks c WHERE c.subscription_id = s.id "
      "AND c.state = 'job_started'), "
      "(SELECT c.state FROM subscription_checks c WHERE c.subscription_id = s.id "
      "ORDER BY c.started_at DESC LIMIT 1)";
  return sql;
}

nlohmann::ordered_json SummaryFromRow(const pqxx::row& r) {
  nlohmann::ordered_json j;
  j["id"] = r[0].as<std::string>();
  j["channel"] = r[1].as<std::string>();
  j["channel_url"] = r[2].as<std::string>();
  const int every_s = r[3].as<int>();
  j["every"] = FormatEvery(every_s);
  j["every_s"] = every_s;
  const auto options = Jsonb(r[4]);
  j["max_videos"] = options.value("max_videos", 20);
  j["since"] = options.contains("published_after") ? options["published_after"] : nullptr;
  j["max_duration_s"] = options.contains("max_duration_s") ? options["max_duration_s"] : nullptr;
  j["keep_days"] = options.contains("keep_days") ? options["keep_days"] : nullptr;
  j["paused"] = r[5].as<bool>();
  j["created_at"] = NullableString(r[6]);
  j["updated_at"] = NullableString(r[7]);
  j["last_check_at"] = NullableString(r[8]);
  j["next_check_at"] = r[5].as<bool>() ? nlohmann::json(nullptr) : NullableString(r[9]);
  j["checks"] = r[10].as<int>();
  j["jobs_started"] = r[11].as<int>();
  j["last_check_state"] = NullableString(r[12]);
  j["url"] = "/subscriptions/" + r[0].as<std::string>();
  return j;
}

}  // namespace

std::string InsertSubscription(pqxx::work& txn, const NewSubscription& sub) {
  auto r = txn.exec_params(
      "INSERT INTO subscriptions (id, channel, channel_url, every_s, options, queue_prefix) "
      "VALUES ($1::uuid, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (channel_url) DO NOTHING "
      "RETURNING 1",
      sub.id, sub.channel, sub.channel_url, sub.every_s, sub.options.dump(), sub.queue_prefix);
  if (!r.empty()) return "";
  auto existing =
      txn.exec_params("SELECT id::text FROM subscriptions WHERE channel_url = $1", sub.channel_url);
  return existing.empty() ? sub.id : existing[0][0].as<std::string>();
}

nlohmann::ordered_json ListSubscriptions(pqxx::work& txn, int limit) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  const std::string sql = "SELECT " + SummaryColumns() +
                          " FROM subscriptions s ORDER BY s.created_at DESC, s.id DESC LIMIT $1";
  for (const auto& r : txn.exec_params(sql, limit)) {
    out.push_back(SummaryFromRow(r));
  }
  return out;
}

std::optional<nlohmann::ordered_json> GetSubscription(pqxx::work& txn, const std::string& id,
                                                      int max_checks) {
  auto rows = txn.exec_params(
      "SELECT " + SummaryColumns() + " FROM subscriptions s WHERE s.id = $1::uuid", id);
  if (rows.empty()) return std::nullopt;
  auto j = SummaryFromRow(rows[0]);
  // A running check whose job failed or was cancelled (the sweeper gave up on its discovery, a
  // cancel): shown failed with the job's error.
  const std::string effective_state =
      "CASE WHEN c.state = 'running' AND j.state IN ('failed', 'cancelled') THEN 'failed' "
      "ELSE c.state END";
  const std::string effective_error =
      "coalesce(c.error, CASE WHEN c.state = 'running' AND j.state IN ('failed', 'cancelled') "
      "THEN coalesce(j.error, 'job ' || j.state) END)";
  const std::string checks_sql =
      "SELECT c.id::text, " + effective_state + ", c.job_id::text, c.new_videos, " +
      effective_error + ", " + Ts("c.started_at") + ", " + Ts("c.finished_at") +
      ", c.checked_by, j.state, c.listing, c.feed_note FROM subscription_checks c "
      "LEFT JOIN jobs j ON j.id = c.job_id WHERE c.subscription_id = $1::uuid "
      "ORDER BY c.started_at DESC, c.id LIMIT $2";
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  for (const auto& r : txn.exec_params(checks_sql, id, max_checks)) {
    nlohmann::ordered_json c;
    c["check_id"] = r[0].as<std::string>();
    c["state"] = r[1].as<std::string>();
    c["job_id"] = NullableString(r[2]);
    c["new_videos"] = r[3].is_null() ? nlohmann::json(nullptr) : nlohmann::json(r[3].as<int>());
    c["error"] = NullableString(r[4]);
    c["started_at"] = NullableString(r[5]);
    c["finished_at"] = NullableString(r[6]);
    c["checked_by"] = r[7].as<std::string>();
    c["job_state"] = NullableString(r[8]);
    c["listing"] = NullableString(r[9]);
    c["feed_note"] = NullableString(r[10]);
    checks.push_back(std::move(c));
  }
  nlohmann::ordered_json last_check =
      checks.empty() ? nlohmann::ordered_json(nullptr) : checks.front();
  nlohmann::ordered_json last_error = nullptr;
  auto err = txn.exec_params("SELECT " + effective_error + ", " + Ts("c.started_at") +
                                 " FROM subscription_checks c LEFT JOIN jobs j ON j.id = c.job_id "
                                 "WHERE c.subscription_id = $1::uuid AND " +
                                 effective_state + " = 'failed' ORDER BY c.started_at DESC LIMIT 1",
                             id);
  if (!err.empty()) last_error = {{"error", NullableString(err[0][0])}, {"at", S(err[0][1])}};
  const std::string jobs_sql = "SELECT c.job_id::text, j.state, c.new_videos, " +
                               Ts("c.started_at") +
                               " FROM subscription_checks c JOIN jobs j ON j.id = c.job_id "
                               "WHERE c.subscription_id = $1::uuid AND c.state = 'job_started' "
                               "ORDER BY c.started_at DESC LIMIT 50";
  nlohmann::ordered_json jobs = nlohmann::ordered_json::array();
  for (const auto& r : txn.exec_params(jobs_sql, id)) {
    jobs.push_back({{"job_id", r[0].as<std::string>()},
                    {"state", r[1].as<std::string>()},
                    {"new_videos", r[2].is_null() ? 0 : r[2].as<int>()},
                    {"started_at", S(r[3])},
                    {"status_url", "/jobs/" + r[0].as<std::string>()}});
  }
  auto feed = txn.exec_params1("SELECT channel_id FROM subscriptions WHERE id = $1::uuid", id);
  j["channel_id"] = NullableString(feed[0]);
  j["last_check"] = std::move(last_check);
  j["last_error"] = std::move(last_error);
  j["jobs"] = std::move(jobs);
  j["recent_checks"] = std::move(checks);
  return j;
}

std::optional<nlohmann::json> LockSubscriptionOptions(pqxx::work& txn, const std::string& id) {
  auto r =
      txn.exec_params("SELECT options::text FROM subscriptions WHERE id = $1::uuid FOR UPDATE", id);
  if (r.empty()) return std::nullopt;
  return Jsonb(r[0][0]);
}

bool UpdateSubscription(pqxx::work& txn, const std::string& id, const SubscriptionPatch& patch) {
  auto r = txn.exec_params(
      "UPDATE subscriptions SET "
      "every_s = coalesce($2::integer, every_s), "
      "paused = coalesce($3::boolean, paused), "
      "options = coalesce($4::jsonb, options), "
      "next_check_at = CASE WHEN $2::integer IS NULL THEN next_check_at "
      "  ELSE greatest(now(), coalesce(last_check_at, now()) + make_interval(secs => $2::integer)) "
      "END, "
      "updated_at = now() WHERE id = $1::uuid RETURNING 1",
      id, patch.every_s ? std::optional<std::string>(std::to_string(*patch.every_s)) : std::nullopt,
      patch.paused ? std::optional<std::string>(*patch.paused ? "true" : "false") : std::nullopt,
      patch.options ? std::optional<std::string>(patch.options->dump()) : std::nullopt);
  return !r.empty();
}

bool DeleteSubscription(pqxx::work& txn, const std::string& id) {
  return !txn.exec_params("DELETE FROM subscriptions WHERE id = $1::uuid RETURNING 1", id).empty();
}

std::vector<DueSubscription> ClaimDueSubscriptions(pqxx::work& txn, int limit,
                                                   const std::string& queue_prefix) {
  std::vector<DueSubscription> out;
  for (const auto& r : txn.exec_params(
           "SELECT s.id::text, s.channel, s.channel_url, s.every_s, s.options::text, "
           "s.channel_id, s.feed_video_ids::text FROM subscriptions s WHERE NOT s.paused AND "
           "s.next_check_at <= now() "
           "AND s.queue_prefix = $2 "
           "AND NOT EXISTS (SELECT 1 FROM subscription_checks c JOIN jobs j ON j.id = c.job_id "
           "  WHERE c.subscription_id = s.id AND j.state IN ('queued', 'running')) "
           "ORDER BY s.next_check_at LIMIT $1 FOR UPDATE OF s SKIP LOCKED",
           limit, queue_prefix)) {
    DueSubscription d;
    d.id = r[0].as<std::string>();
    d.channel = r[1].as<std::string>();
    d.channel_url = r[2].as<std::string>();
    d.every_s = r[3].as<int>();
    d.options = Jsonb(r[4]);
    d.channel_id = S(r[5]);
    if (!r[6].is_null()) {
      auto ids = nlohmann::json::parse(r[6].c_str(), nullptr, false);
      if (ids.is_array()) {
        d.feed_video_ids.emplace();
        for (const auto& id : ids) {
          if (id.is_string()) d.feed_video_ids->push_back(id.get<std::string>());
        }
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

void StartSubscriptionCheck(pqxx::work& txn, const DueSubscription& sub,
                            const std::string& check_id, const std::string& job_id,
                            const std::string& checked_by) {
  txn.exec_params(
      "INSERT INTO subscription_checks (id, subscription_id, job_id, checked_by) "
      "VALUES ($1::uuid, $2::uuid, $3::uuid, $4)",
      check_id, sub.id, job_id, checked_by);
  txn.exec_params(
      "UPDATE subscriptions SET last_check_at = now(), checks = checks + 1, "
      "next_check_at = now() + make_interval(secs => every_s) WHERE id = $1::uuid",
      sub.id);
}

std::optional<CheckOfJob> FindRunningCheck(pqxx::work& txn, const std::string& job_id) {
  auto r = txn.exec_params(
      "SELECT c.id::text, c.subscription_id::text, s.options::text FROM subscription_checks c "
      "JOIN subscriptions s ON s.id = c.subscription_id "
      "WHERE c.job_id = $1::uuid AND c.state = 'running' FOR UPDATE OF c",
      job_id);
  if (r.empty()) return std::nullopt;
  return CheckOfJob{r[0][0].as<std::string>(), r[0][1].as<std::string>(), Jsonb(r[0][2])};
}

std::map<std::string, std::string> VideosSettledInSubscription(
    pqxx::work& txn, const std::string& subscription_id,
    const std::vector<std::string>& video_ids) {
  std::map<std::string, std::string> out;
  if (video_ids.empty()) return out;
  for (const auto& r : txn.exec_params(
           "SELECT v.video_id, bool_or(v.documents_deleted_at IS NOT NULL) "
           "FROM subscription_checks c JOIN videos v ON v.job_id = c.job_id "
           "WHERE c.subscription_id = $1::uuid "
           "AND (v.state = 'failed' OR v.documents_deleted_at IS NOT NULL) "
           "AND v.video_id IN (SELECT json_array_elements_text($2::json)) GROUP BY v.video_id",
           subscription_id,
           nlohmann::json(video_ids).dump(-1, ' ', false,
                                          nlohmann::json::error_handler_t::replace))) {
    out[r[0].as<std::string>()] = r[1].as<bool>() ? "documents expired (keep_days)"
                                                  : "failed in an earlier subscription check";
  }
  return out;
}

void FinishSubscriptionCheck(pqxx::work& txn, const std::string& check_id, const std::string& state,
                             int new_videos, const std::string& error) {
  txn.exec_params(
      "UPDATE subscription_checks SET state = $2, new_videos = $3, error = NULLIF($4, ''), "
      "finished_at = now() WHERE id = $1::uuid",
      check_id, state, new_videos, error);
}

std::optional<CheckOfJob> FailSubscriptionCheckOfJob(pqxx::work& txn, const std::string& job_id,
                                                     const std::string& error) {
  auto r = txn.exec_params(
      "UPDATE subscription_checks SET state = 'failed', error = $2, finished_at = now() "
      "WHERE job_id = $1::uuid AND state = 'running' RETURNING id::text, subscription_id::text",
      job_id, error);
  if (r.empty()) return std::nullopt;
  return CheckOfJob{r[0][0].as<std::string>(), r[0][1].as<std::string>(), nlohmann::json::object()};
}

void RecordCheckFeed(pqxx::work& txn, const CheckOfJob& check, const CheckFeed& feed) {
  txn.exec_params(
      "UPDATE subscription_checks SET listing = $2, feed_note = NULLIF($3, '') "
      "WHERE id = $1::uuid",
      check.check_id, feed.listing, feed.feed_note);
  std::optional<std::string> ids;
  if (feed.feed_video_ids) {
    ids = nlohmann::json(*feed.feed_video_ids)
              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  txn.exec_params(
      "UPDATE subscriptions SET feed_video_ids = coalesce($2::jsonb, feed_video_ids), "
      "channel_id = coalesce(NULLIF($3, ''), channel_id) WHERE id = $1::uuid",
      check.subscription_id, ids, feed.channel_id);
}

void RememberChannelId(pqxx::work& txn, const std::string& id, const std::string& channel_id) {
  txn.exec_params(
      "UPDATE subscriptions SET channel_id = $2 WHERE id = $1::uuid AND channel_id IS NULL", id,
      channel_id);
}

void DeleteJob(pqxx::work& txn, const std::string& job_id) {
  txn.exec_params("DELETE FROM jobs WHERE id = $1::uuid", job_id);
}

std::vector<std::string> ClaimExpiredVideoDocuments(pqxx::work& txn, int limit) {
  // `expiring`: rows of expired check jobs; a video qualifies when no other live row names it.
  const std::string expiring =
      "SELECT v.job_id, v.video_id FROM videos v "
      "JOIN subscription_checks c ON c.job_id = v.job_id "
      "JOIN subscriptions s ON s.id = c.subscription_id "
      "JOIN jobs j ON j.id = v.job_id "
      "WHERE v.state IN ('done', 'skipped') AND v.documents_deleted_at IS NULL "
      "AND jsonb_typeof(s.options->'keep_days') = 'number' "
      "AND j.finished_at < now() - make_interval(days => (s.options->>'keep_days')::int)";
  std::vector<std::string> ids;
  const std::string sql =
      "WITH expiring AS (" + expiring +
      ") "
      "SELECT DISTINCT e.video_id FROM expiring e WHERE NOT EXISTS ("
      "  SELECT 1 FROM videos o WHERE o.video_id = e.video_id "
      "  AND o.state IN ('done', 'skipped', 'pending', 'running') "
      "  AND o.documents_deleted_at IS NULL AND NOT EXISTS ("
      "    SELECT 1 FROM expiring x WHERE x.job_id = o.job_id AND x.video_id = o.video_id)"
      ") LIMIT $1";
  for (const auto& r : txn.exec_params(sql, limit)) {
    ids.push_back(r[0].as<std::string>());
  }
  if (ids.empty()) return ids;
  const auto list =
      nlohmann::json(ids).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // Locked and marked; a video another orchestrator holds right now is left to it.
  auto locked = txn.exec_params(
      "SELECT video_id FROM videos WHERE video_id IN "
      "(SELECT json_array_elements_text($1::json)) AND documents_deleted_at IS NULL "
      "AND state IN ('done', 'skipped') FOR UPDATE SKIP LOCKED",
      list);
  std::vector<std::string> claimed;
  for (const auto& r : locked) {
    auto id = r[0].as<std::string>();
    if (std::find(claimed.begin(), claimed.end(), id) == claimed.end()) claimed.push_back(id);
  }
  txn.exec_params(
      "UPDATE videos SET documents_deleted_at = now() WHERE video_id IN "
      "(SELECT json_array_elements_text($1::json)) AND documents_deleted_at IS NULL "
      "AND state IN ('done', 'skipped')",
      nlohmann::json(claimed).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return claimed;
}

}  // namespace chansum::store
