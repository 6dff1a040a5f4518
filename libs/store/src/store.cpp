#include "chansum/store/store.hpp"

#include "chansum/store/live.hpp"

#include <algorithm>

namespace chansum::store {
namespace {

using protocol::Stage;
using protocol::StageName;

std::string S(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }

nlohmann::json NullableString(const pqxx::field& f) {
  return f.is_null() ? nlohmann::json(nullptr) : nlohmann::json(f.as<std::string>());
}

nlohmann::json Jsonb(const pqxx::field& f) {
  if (f.is_null()) return nullptr;
  return nlohmann::json::parse(f.c_str(), nullptr, false);
}

int StageIndex(const std::string& name) {
  auto s = protocol::StageFromName(name);
  return s ? static_cast<int>(*s) : -1;
}

// Timestamps are rendered by PostgreSQL in RFC 3339 UTC with milliseconds.
constexpr const char* kTs = R"(to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))";

std::string Ts(const std::string& column) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), kTs, column.c_str());
  return buf;
}

}  // namespace

const char* ToString(Begin b) noexcept {
  switch (b) {
    case Begin::kProceed:
      return "proceed";
    case Begin::kAlreadyDone:
      return "already_done";
    case Begin::kNotFound:
      return "not_found";
    case Begin::kJobClosed:
      return "job_closed";
  }
  return "unknown";
}

Result<int> Migrate(pqxx::connection& conn) {
  return pg::ApplyMigrations(conn, Migrations(), "chansum.schema");
}

void InsertJob(pqxx::work& txn, const NewJob& job) {
  txn.exec_params(
      "INSERT INTO jobs (id, channel, channel_url, options, trace_id) "
      "VALUES ($1::uuid, $2, $3, $4::jsonb, $5)",
      job.id, job.channel, job.channel_url, job.options.dump(), job.trace_id);
}

Result<JobPage> ListJobs(pqxx::work& txn, int limit, const std::string& before) {
  limit = std::clamp(limit, 1, 200);
  // Cursor: "<created_at epoch micros>_<uuid>" of the last job of the previous page.
  std::string cursor_ts;
  std::string cursor_id;
  if (!before.empty()) {
    const auto sep = before.find('_');
    if (sep == std::string::npos || sep == 0 ||
        !std::all_of(before.begin(), before.begin() + static_cast<long>(sep),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        before.size() - sep - 1 != 36) {
      return Error::Permanent("invalid_cursor", "cursor is not one this API returned");
    }
    cursor_ts = before.substr(0, sep);
    cursor_id = before.substr(sep + 1);
  }
  const std::string cols =
      "SELECT id::text, channel, state, video_count, " + Ts("created_at") + ", " +
      Ts("finished_at") +
      ", (extract(epoch from created_at) * 1000000)::bigint::text AS cursor_ts FROM jobs ";
  pqxx::result rows;
  if (before.empty()) {
    rows = txn.exec_params(cols + "ORDER BY created_at DESC, id DESC LIMIT $1", limit + 1);
  } else {
    rows = txn.exec_params(cols +
                               "WHERE (created_at, id) < (to_timestamp($1::bigint / 1000000.0), "
                               "$2::uuid) ORDER BY created_at DESC, id DESC LIMIT $3",
                           cursor_ts, cursor_id, limit + 1);
  }
  JobPage page;
  for (int i = 0; i < static_cast<int>(rows.size()) && i < limit; ++i) {
    const auto& r = rows[i];
    nlohmann::ordered_json j;
    j["job_id"] = r[0].as<std::string>();
    j["channel"] = r[1].as<std::string>();
    j["state"] = r[2].as<std::string>();
    j["video_count"] = r[3].is_null() ? nlohmann::json(nullptr) : nlohmann::json(r[3].as<int>());
    j["created_at"] = NullableString(r[4]);
    j["finished_at"] = NullableString(r[5]);
    j["status_url"] = "/jobs/" + r[0].as<std::string>();
    page.jobs.push_back(std::move(j));
    if (i == limit - 1 && static_cast<int>(rows.size()) > limit) {
      page.next_cursor = r[6].as<std::string>() + "_" + r[0].as<std::string>();
    }
  }
  return page;
}

Claim BeginDiscovery(pqxx::work& txn, const std::string& job_id) {
  Claim claim;
  auto rows = txn.exec_params(
      "SELECT state, video_count, trace_id, options::text FROM jobs WHERE id = $1::uuid FOR "
      "UPDATE",
      job_id);
  if (rows.empty()) return claim;
  const auto state = rows[0][0].as<std::string>();
  claim.job_trace_id = S(rows[0][2]);
  claim.job_options = Jsonb(rows[0][3]);
  if (state != "queued" && state != "running") {
    claim.outcome = Begin::kJobClosed;
    return claim;
  }
  if (!rows[0][1].is_null()) {
    claim.outcome = Begin::kAlreadyDone;
    return claim;
  }
  txn.exec_params(
      "UPDATE jobs SET state = 'running', started_at = coalesce(started_at, now()), "
      "updated_at = now() WHERE id = $1::uuid",
      job_id);
  claim.outcome = Begin::kProceed;
  claim.attempts = 1;
  return claim;
}

std::vector<DiscoveredVideo> RecordDiscovery(pqxx::work& txn, const std::string& job_id,
                                             const std::vector<DiscoveredVideo>& videos) {
  std::vector<DiscoveredVideo> inserted;
  int position = 0;
  for (const auto& v : videos) {
    auto r = txn.exec_params(
        "INSERT INTO videos (job_id, video_id, position, title, url, duration_s, published_at) "
        "VALUES ($1::uuid, $2, $3, NULLIF($4, ''), $5, NULLIF($6, '')::double precision, "
        "NULLIF($7, '')::timestamptz) ON CONFLICT (job_id, video_id) DO NOTHING RETURNING 1",
        job_id, v.video_id, position++, v.title, v.url,
        v.duration_s ? std::to_string(*v.duration_s) : std::string(), v.published_at);
    if (!r.empty()) inserted.push_back(v);
  }
  txn.exec_params(
      "UPDATE jobs SET video_count = (SELECT count(*) FROM videos WHERE job_id = $1::uuid), "
      "updated_at = now() WHERE id = $1::uuid",
      job_id);
  return inserted;
}

Claim BeginVideoStage(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                      Stage stage, const std::string& worker, int lease_seconds) {
  Claim claim;
  auto rows = txn.exec_params(
      "SELECT v.stage, v.state, j.state, v.attempts, coalesce(v.title, ''), j.trace_id, "
      "j.options::text FROM videos v JOIN jobs j ON j.id = v.job_id "
      "WHERE v.job_id = $1::uuid AND v.video_id = $2 FOR UPDATE OF v",
      job_id, video_id);
  if (rows.empty()) return claim;
  const auto& r = rows[0];
  const auto row_stage = r[0].as<std::string>();
  const auto row_state = r[1].as<std::string>();
  const auto job_state = r[2].as<std::string>();
  claim.title = r[4].as<std::string>();
  claim.job_trace_id = r[5].as<std::string>();
  claim.job_options = Jsonb(r[6]);
  if (job_state == "cancelled" || job_state == "failed") {
    claim.outcome = Begin::kJobClosed;
    return claim;
  }
  const int here = static_cast<int>(stage);
  const int there = StageIndex(row_stage);
  // A failed or skipped video never resumes (only an explicit retry resets it); a stage behind
  // the row's stage, or one already done, is a redelivery.
  if (row_state == "failed" || row_state == "skipped" || there > here ||
      (there == here && row_state == "done")) {
    claim.outcome = Begin::kAlreadyDone;
    return claim;
  }
  const std::string name(StageName(stage));
  auto updated = txn.exec_params(
      "UPDATE videos SET stage = $3, state = 'running', "
      "attempts = CASE WHEN stage = $3 THEN attempts + 1 ELSE 1 END, "
      "lease_owner = $4, lease_expires_at = now() + make_interval(secs => $5), "
      "timings = jsonb_set(timings, ARRAY[$3], coalesce(timings->$3, '{}'::jsonb) || "
      "  jsonb_build_object('started_at', " +
          Ts("now()") +
          ")), updated_at = now() "
          "WHERE job_id = $1::uuid AND video_id = $2 RETURNING attempts",
      job_id, video_id, name, worker, lease_seconds);
  claim.attempts = updated[0][0].as<int>();
  claim.outcome = Begin::kProceed;
  return claim;
}

bool CompleteVideoStage(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                        Stage stage, const StageDone& done) {
  const std::string name(StageName(stage));
  const std::string next = done.next_stage ? std::string(StageName(*done.next_stage)) : name;
  const std::string state = done.next_stage ? "pending" : "done";
  auto r = txn.exec_params(
      "UPDATE videos SET stage = $4, state = $5, "
      "attempts = CASE WHEN $4 = $3 THEN attempts ELSE 0 END, "
      "last_error = NULL, error_class = NULL, lease_owner = NULL, lease_expires_at = NULL, "
      "media_path = coalesce(NULLIF($6, ''), media_path), "
      "audio_path = coalesce(NULLIF($7, ''), audio_path), "
      "timings = jsonb_set(timings, ARRAY[$3], coalesce(timings->$3, '{}'::jsonb) || "
      "  jsonb_build_object('finished_at', " +
          Ts("now()") +
          ", 'ms', round(extract(epoch from (now() - coalesce((timings->$3->>'started_at')"
          "::timestamptz, now()))) * 1000))), "
          "finished_at = CASE WHEN $5 = 'done' THEN now() ELSE finished_at END, "
          "updated_at = now() "
          "WHERE job_id = $1::uuid AND video_id = $2 AND stage = $3 AND state = 'running' "
          "RETURNING 1",
      job_id, video_id, name, next, state, done.media_path, done.audio_path);
  return !r.empty();
}

bool RetryVideoStage(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                     Stage stage, const Error& error) {
  auto r = txn.exec_params(
      "UPDATE videos SET state = 'pending', last_error = $4, error_class = $5, "
      "lease_owner = NULL, lease_expires_at = NULL, updated_at = now() "
      "WHERE job_id = $1::uuid AND video_id = $2 AND stage = $3 AND state = 'running' "
      "RETURNING 1",
      job_id, video_id, std::string(StageName(stage)), error.message, ToString(error.cls));
  return !r.empty();
}

bool FailVideo(pqxx::work& txn, const std::string& job_id, const std::string& video_id, Stage stage,
               const Error& error) {
  auto r = txn.exec_params(
      "UPDATE videos SET stage = $3, state = 'failed', last_error = $4, error_class = $5, "
      "lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now() "
      "WHERE job_id = $1::uuid AND video_id = $2 AND stage = $3 "
      "AND state IN ('pending', 'running') RETURNING 1",
      job_id, video_id, std::string(StageName(stage)), error.message, ToString(error.cls));
  return !r.empty();
}

void FailJob(pqxx::work& txn, const std::string& job_id, const Error& error) {
  txn.exec_params(
      "UPDATE jobs SET state = 'failed', error = $2, error_class = $3, finished_at = now(), "
      "updated_at = now() WHERE id = $1::uuid AND state IN ('queued', 'running')",
      job_id, error.message, ToString(error.cls));
}

std::optional<std::string> FinishJobIfComplete(pqxx::work& txn, const std::string& job_id) {
  auto job =
      txn.exec_params("SELECT state, video_count FROM jobs WHERE id = $1::uuid FOR UPDATE", job_id);
  if (job.empty() || job[0][0].as<std::string>() != "running" || job[0][1].is_null()) {
    return std::nullopt;
  }
  auto counts = txn.exec_params(
      "SELECT count(*) FILTER (WHERE state IN ('pending', 'running')), "
      "count(*) FILTER (WHERE state = 'failed') FROM videos WHERE job_id = $1::uuid",
      job_id);
  if (counts[0][0].as<long>() > 0) return std::nullopt;
  const std::string state = counts[0][1].as<long>() > 0 ? "completed_with_errors" : "completed";
  txn.exec_params(
      "UPDATE jobs SET state = $2, finished_at = now(), updated_at = now() WHERE id = $1::uuid",
      job_id, state);
  return state;
}

std::optional<JobTotals> GetJobTotals(pqxx::work& txn, const std::string& job_id) {
  auto r = txn.exec_params(
      "SELECT j.state, coalesce(j.video_count, 0), "
      "(SELECT count(*) FROM videos v WHERE v.job_id = j.id AND v.state = 'done'), "
      "(SELECT count(*) FROM videos v WHERE v.job_id = j.id AND v.state = 'failed'), "
      "greatest(0, round(extract(epoch from (coalesce(j.finished_at, now()) - "
      "coalesce(j.started_at, j.created_at))) * 1000))::bigint "
      "FROM jobs j WHERE j.id = $1::uuid",
      job_id);
  if (r.empty()) return std::nullopt;
  JobTotals t;
  t.state = r[0][0].as<std::string>();
  t.video_count = r[0][1].as<int>();
  t.done = r[0][2].as<int>();
  t.failed = r[0][3].as<int>();
  t.duration_ms = r[0][4].as<std::int64_t>();
  return t;
}

}  // namespace chansum::store
