#include "chansum/store/store.hpp"

#include "chansum/store/live.hpp"

#include <algorithm>
#include <set>

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
    case Begin::kLeased:
      return "leased_elsewhere";
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

Claim BeginDiscovery(pqxx::work& txn, const std::string& job_id, const std::string& worker) {
  Claim claim;
  auto rows = txn.exec_params(
      "SELECT state, video_count, trace_id, options::text, "
      "coalesce(lease_expires_at > now() AND lease_owner <> $2, false) FROM jobs "
      "WHERE id = $1::uuid FOR UPDATE",
      job_id, worker);
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
  if (rows[0][4].as<bool>()) {  // a duplicate command while a live discovery runs elsewhere
    claim.outcome = Begin::kLeased;
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
  // One statement for the whole listing; position = index in the listing (the first occurrence
  // of an id wins, later ones conflict and are dropped).
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t i = 0; i < videos.size(); ++i) {
    const auto& v = videos[i];
    rows.push_back({{"o", i},
                    {"v", v.video_id},
                    {"t", v.title},
                    {"u", v.url},
                    {"d", v.duration_s ? std::to_string(*v.duration_s) : std::string()},
                    {"p", v.published_at},
                    {"s", v.source},
                    {"i", v.source_id}});
  }
  std::vector<DiscoveredVideo> inserted;
  if (!videos.empty()) {
    auto r = txn.exec_params(
        "INSERT INTO videos (job_id, video_id, position, title, url, duration_s, published_at, "
        "source, source_id) "
        "SELECT $1::uuid, r.v, r.o, NULLIF(r.t, ''), r.u, NULLIF(r.d, '')::double precision, "
        "NULLIF(r.p, '')::timestamptz, NULLIF(r.s, ''), NULLIF(r.i, '') "
        "FROM json_to_recordset($2::json) "
        "AS r(o integer, v text, t text, u text, d text, p text, s text, i text) ORDER BY r.o "
        "ON CONFLICT (job_id, video_id) DO NOTHING RETURNING position",
        job_id, rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    std::vector<std::size_t> positions;
    for (const auto& row : r) positions.push_back(row[0].as<std::size_t>());
    std::sort(positions.begin(), positions.end());
    for (auto p : positions) inserted.push_back(videos[p]);
  }
  txn.exec_params(
      "UPDATE jobs SET video_count = (SELECT count(*) FROM videos WHERE job_id = $1::uuid), "
      "updated_at = now() WHERE id = $1::uuid",
      job_id);
  return inserted;
}

namespace {

// The keys as a JSON array of {o: position, j: job id, v: video id} for json_to_recordset: one
// parameter for the whole batch, safe for any video id.
std::string KeysJson(const std::vector<VideoKey>& keys) {
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    rows.push_back({{"o", i}, {"j", keys[i].job_id}, {"v", keys[i].video_id}});
  }
  return rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

constexpr const char* kKeysRecordset =
    "json_to_recordset($1::json) AS r(o integer, j uuid, v text)";

}  // namespace

std::vector<Claim> ClaimVideoStages(pqxx::work& txn, const std::vector<VideoKey>& keys, Stage stage,
                                    const std::string& worker, int lease_seconds, bool in_place) {
  std::vector<Claim> claims(keys.size());
  if (keys.empty()) return claims;
  const std::string keys_json = KeysJson(keys);
  auto rows = txn.exec_params(
      std::string("SELECT r.o, v.stage, v.state, j.state, coalesce(v.title, ''), j.trace_id, "
                  "j.options::text, v.attempts, "
                  "coalesce(v.lease_expires_at > now() AND v.lease_owner <> $2, false) FROM ") +
          kKeysRecordset +
          " JOIN videos v ON v.job_id = r.j AND v.video_id = r.v JOIN jobs j ON j.id = v.job_id "
          "ORDER BY v.job_id, v.video_id, r.o FOR UPDATE OF v",
      keys_json, worker);
  const int here = static_cast<int>(stage);
  nlohmann::json proceed = nlohmann::json::array();
  std::vector<bool> seen(keys.size(), false);
  std::set<std::pair<std::string, std::string>> taken;
  for (const auto& r : rows) {
    const auto o = r[0].as<std::size_t>();
    if (o >= claims.size() || seen[o]) continue;
    seen[o] = true;
    Claim& claim = claims[o];
    const auto row_stage = r[1].as<std::string>();
    const auto row_state = r[2].as<std::string>();
    const auto job_state = r[3].as<std::string>();
    claim.title = r[4].as<std::string>();
    claim.job_trace_id = r[5].as<std::string>();
    claim.job_options = Jsonb(r[6]);
    const int there = StageIndex(row_stage);
    if (job_state == "cancelled" || job_state == "failed") {
      claim.outcome = Begin::kJobClosed;
    } else if (row_state == "failed" || row_state == "skipped" || there > here ||
               (there == here && row_state == "done") ||
               !taken.emplace(keys[o].job_id, keys[o].video_id).second) {
      // A failed or skipped video never resumes (only an explicit retry resets it); a stage
      // behind the row's stage, one already done, or a second copy in this batch: a redelivery.
      claim.outcome = Begin::kAlreadyDone;
    } else if (there == here && row_state == "running" && r[8].as<bool>()) {
      // A redelivery (or a copy) while another worker runs this stage under a live lease:
      // running it again would download, transcribe or spend tokens twice. An expired lease is
      // taken over (its worker died or stalled), and so is a live one of this very worker (its
      // own earlier try whose outcome did not commit).
      claim.outcome = Begin::kLeased;
    } else {
      claim.outcome = Begin::kProceed;
      claim.attempts = there == here ? r[7].as<int>() + 1 : 1;
      proceed.push_back({{"o", o}, {"j", keys[o].job_id}, {"v", keys[o].video_id}});
    }
  }
  if (proceed.empty() || in_place) return claims;
  const std::string name(StageName(stage));
  auto updated = txn.exec_params(
      "UPDATE videos v SET stage = $2, state = 'running', "
      "attempts = CASE WHEN v.stage = $2 THEN v.attempts + 1 ELSE 1 END, "
      "lease_owner = $3, lease_expires_at = now() + make_interval(secs => $4), "
      "timings = jsonb_set(v.timings, ARRAY[$2], coalesce(v.timings->$2, '{}'::jsonb) || "
      "  jsonb_build_object('started_at', " +
          Ts("now()") + ")), updated_at = now() FROM " + kKeysRecordset +
          " WHERE v.job_id = r.j AND v.video_id = r.v RETURNING r.o, v.attempts",
      proceed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), name, worker,
      lease_seconds);
  for (const auto& r : updated) claims[r[0].as<std::size_t>()].attempts = r[1].as<int>();
  return claims;
}

Claim BeginVideoStage(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                      Stage stage, const std::string& worker, int lease_seconds) {
  return ClaimVideoStages(txn, {{job_id, video_id}}, stage, worker, lease_seconds).front();
}

std::vector<bool> CompleteVideoStages(pqxx::work& txn, Stage stage,
                                      const std::vector<std::pair<VideoKey, StageDone>>& done,
                                      bool in_place) {
  std::vector<bool> completed(done.size(), false);
  if (done.empty()) return completed;
  const std::string name(StageName(stage));
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t i = 0; i < done.size(); ++i) {
    const auto& [key, d] = done[i];
    rows.push_back({{"o", i},
                    {"j", key.job_id},
                    {"v", key.video_id},
                    {"n", d.next_stage ? std::string(StageName(*d.next_stage)) : name},
                    {"s", d.next_stage ? "pending" : "done"},
                    {"m", d.media_path},
                    {"a", d.audio_path},
                    {"t", d.attempts}});
  }
  // In place (claimed by this transaction, still pending): the claim's attempt number and start
  // time are written here, with the outcome.
  auto r = txn.exec_params(
      "UPDATE videos v SET stage = r.n, state = r.s, "
      "attempts = CASE WHEN r.n <> $2 THEN 0 WHEN $3 THEN r.t ELSE v.attempts END, "
      "last_error = NULL, error_class = NULL, lease_owner = NULL, lease_expires_at = NULL, "
      "media_path = coalesce(NULLIF(r.m, ''), v.media_path), "
      "audio_path = coalesce(NULLIF(r.a, ''), v.audio_path), "
      "timings = jsonb_set(v.timings, ARRAY[$2], coalesce(v.timings->$2, '{}'::jsonb) || "
      "  CASE WHEN $3 THEN jsonb_build_object('started_at', " +
          Ts("now()") + ") ELSE '{}'::jsonb END || jsonb_build_object('finished_at', " +
          Ts("now()") +
          ", 'ms', CASE WHEN $3 THEN 0 ELSE round(extract(epoch from (now() - "
          "coalesce((v.timings->$2->>'started_at')::timestamptz, now()))) * 1000) END)), "
          "finished_at = CASE WHEN r.s = 'done' THEN now() ELSE v.finished_at END, "
          "updated_at = now() "
          "FROM json_to_recordset($1::json) AS r(o integer, j uuid, v text, n text, s text, "
          "m text, a text, t integer) "
          "WHERE v.job_id = r.j AND v.video_id = r.v AND v.stage = $2 "
          "AND v.state = ANY(CASE WHEN $3 THEN ARRAY['pending', 'running'] ELSE ARRAY['running'] "
          "END) RETURNING r.o",
      rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), name, in_place);
  for (const auto& row : r) completed[row[0].as<std::size_t>()] = true;
  return completed;
}

bool CompleteVideoStage(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                        Stage stage, const StageDone& done) {
  return CompleteVideoStages(txn, stage, {{VideoKey{job_id, video_id}, done}}).front();
}

std::vector<bool> HeldVideoLeases(pqxx::work& txn, const std::vector<VideoKey>& keys, Stage stage,
                                  const std::string& worker) {
  std::vector<bool> held(keys.size(), false);
  if (keys.empty()) return held;
  auto rows =
      txn.exec_params(std::string("SELECT r.o FROM ") + kKeysRecordset +
                          " JOIN videos v ON v.job_id = r.j AND v.video_id = r.v "
                          "WHERE v.stage = $2 AND v.state = 'running' AND v.lease_owner = $3 "
                          "ORDER BY v.job_id, v.video_id, r.o FOR UPDATE OF v",
                      KeysJson(keys), std::string(StageName(stage)), worker);
  for (const auto& r : rows) held[r[0].as<std::size_t>()] = true;
  return held;
}

bool RetryVideoStage(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                     Stage stage, const Error& error, int attempts) {
  auto r = txn.exec_params(
      "UPDATE videos SET state = 'pending', last_error = $4, error_class = $5, "
      "attempts = CASE WHEN $6 > 0 THEN $6 ELSE attempts END, "
      "lease_owner = NULL, lease_expires_at = NULL, updated_at = now() "
      "WHERE job_id = $1::uuid AND video_id = $2 AND stage = $3 "
      "AND state = ANY(CASE WHEN $6 > 0 THEN ARRAY['pending', 'running'] ELSE ARRAY['running'] "
      "END) RETURNING 1",
      job_id, video_id, std::string(StageName(stage)), error.message, ToString(error.cls),
      attempts);
  return !r.empty();
}

bool FailVideo(pqxx::work& txn, const std::string& job_id, const std::string& video_id, Stage stage,
               const Error& error, int attempts) {
  auto r = txn.exec_params(
      "UPDATE videos SET stage = $3, state = 'failed', last_error = $4, error_class = $5, "
      "attempts = CASE WHEN $6 > 0 THEN $6 ELSE attempts END, "
      "lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now() "
      "WHERE job_id = $1::uuid AND video_id = $2 AND stage = $3 "
      "AND state IN ('pending', 'running') RETURNING 1",
      job_id, video_id, std::string(StageName(stage)), error.message, ToString(error.cls),
      attempts);
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
