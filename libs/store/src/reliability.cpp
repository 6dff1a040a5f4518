#include "chansum/store/reliability.hpp"

#include "chansum/store/store.hpp"

#include <algorithm>

namespace chansum::store {
namespace {

using protocol::Stage;
using protocol::StageName;

std::string S(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }

nlohmann::json Jsonb(const pqxx::field& f) {
  if (f.is_null()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(f.c_str(), nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

Stage StageOf(const std::string& name) {
  auto s = protocol::StageFromName(name);
  return s ? *s : Stage::kDownload;
}

constexpr const char* kReceivedAt =
    R"(to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))";
constexpr const char* kReplayedAt =
    R"(to_char(replayed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))";

}  // namespace

int ClaimDiscoveryLease(pqxx::work& txn, const std::string& job_id, const std::string& worker,
                        int lease_seconds) {
  auto r = txn.exec_params(
      "UPDATE jobs SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3), "
      "discovery_attempts = discovery_attempts + 1 WHERE id = $1::uuid "
      "RETURNING discovery_attempts",
      job_id, worker, lease_seconds);
  return r.empty() ? 0 : r[0][0].as<int>();
}

void ReleaseDiscoveryLease(pqxx::work& txn, const std::string& job_id) {
  txn.exec_params("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1::uuid",
                  job_id);
}

bool HoldsDiscoveryLease(pqxx::work& txn, const std::string& job_id, const std::string& worker) {
  return !txn.exec_params(
                 "SELECT 1 FROM jobs WHERE id = $1::uuid AND video_count IS NULL AND "
                 "lease_owner = $2 FOR UPDATE",
                 job_id, worker)
              .empty();
}

namespace {

// A lease of the process `worker` names: its own or one of its threads' ("<worker>/<n>").
std::string OwnedBy(const std::string& param) {
  return "(lease_owner = " + param + " OR starts_with(lease_owner, " + param + " || '/'))";
}

}  // namespace

int ReleaseLeases(pqxx::work& txn,
                  const std::vector<std::pair<std::string, std::string>>& job_video_ids,
                  const std::vector<std::string>& job_ids, const std::string& worker) {
  int released = 0;
  for (const auto& [job_id, video_id] : job_video_ids) {
    released += static_cast<int>(
        txn.exec_params("UPDATE videos SET state = 'pending', lease_owner = NULL, "
                        "lease_expires_at = NULL, updated_at = now() WHERE job_id = $1::uuid AND "
                        "video_id = $2 AND state = 'running' AND " +
                            OwnedBy("$3") + " RETURNING 1",
                        job_id, video_id, worker)
            .size());
  }
  for (const auto& job_id : job_ids) {
    released += static_cast<int>(
        txn.exec_params("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = "
                        "$1::uuid AND video_count IS NULL AND " +
                            OwnedBy("$2") + " RETURNING 1",
                        job_id, worker)
            .size());
  }
  return released;
}

int RenewVideoLeases(pqxx::work& txn,
                     const std::vector<std::pair<std::string, std::string>>& job_video_ids,
                     const std::string& worker, int lease_seconds) {
  int renewed = 0;
  for (const auto& [job_id, video_id] : job_video_ids) {
    auto r = txn.exec_params(
        "UPDATE videos SET lease_expires_at = now() + make_interval(secs => $4) "
        "WHERE job_id = $1::uuid AND video_id = $2 AND state = 'running' AND " +
            OwnedBy("$3") + " RETURNING 1",
        job_id, video_id, worker, lease_seconds);
    renewed += static_cast<int>(r.size());
  }
  return renewed;
}

int RenewJobLeases(pqxx::work& txn, const std::vector<std::string>& job_ids,
                   const std::string& worker, int lease_seconds) {
  int renewed = 0;
  for (const auto& job_id : job_ids) {
    auto r = txn.exec_params(
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3) "
        "WHERE id = $1::uuid AND state = 'running' AND video_count IS NULL AND " +
            OwnedBy("$2") + " RETURNING 1",
        job_id, worker, lease_seconds);
    renewed += static_cast<int>(r.size());
  }
  return renewed;
}

bool HoldsVideoLease(pqxx::work& txn, const std::string& job_id, const std::string& video_id,
                     Stage stage, const std::string& worker) {
  return HeldVideoLeases(txn, {{job_id, video_id}}, stage, worker).front();
}

namespace {

// Columns 0-3 (job, video, stage, attempts) and 5-9 (trace id, url, title, media and audio path)
// of the sweeper's and the watchdog's video queries; column 4 is their own.
void ReadVideoCommandRow(const pqxx::row& r, VideoCommandRow& v) {
  v.job_id = r[0].as<std::string>();
  v.video_id = r[1].as<std::string>();
  v.stage = StageOf(r[2].as<std::string>());
  v.attempts = r[3].as<int>();
  v.trace_id = r[5].as<std::string>();
  v.url = S(r[6]);
  v.title = r[7].as<std::string>();
  v.media_path = r[8].as<std::string>();
  v.audio_path = r[9].as<std::string>();
}

// Columns 0-1 (job, attempts) and 3-5 (trace id, channel URL, options) of the sweeper's and the
// watchdog's discovery queries; column 2 and any after 5 are their own.
void ReadDiscoveryCommandRow(const pqxx::row& r, DiscoveryCommandRow& d) {
  d.job_id = r[0].as<std::string>();
  d.attempts = r[1].as<int>();
  d.trace_id = r[3].as<std::string>();
  d.channel_url = r[4].as<std::string>();
  d.options = Jsonb(r[5]);
}

// One T per row: `read(row, t)` fills it (the shared columns and the query's own).
template <typename T, typename Read>
std::vector<T> ReadRows(const pqxx::result& rows, Read read) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (const auto& r : rows) read(r, out.emplace_back());
  return out;
}

}  // namespace

std::vector<ExpiredVideo> LockExpiredVideoLeases(pqxx::work& txn, int limit) {
  auto rows = txn.exec_params(
      "SELECT v.job_id::text, v.video_id, v.stage, v.attempts, coalesce(v.lease_owner, ''), "
      "j.trace_id, v.url, coalesce(v.title, ''), coalesce(v.media_path, ''), "
      "coalesce(v.audio_path, '') FROM videos v JOIN jobs j ON j.id = v.job_id "
      "WHERE v.state = 'running' AND v.lease_expires_at < now() "
      "AND j.state IN ('queued', 'running') "  // an ended (cancelled, failed, ...) job: left alone
      "ORDER BY v.lease_expires_at LIMIT $1 FOR UPDATE OF v SKIP LOCKED",
      limit);
  return ReadRows<ExpiredVideo>(rows, [](const pqxx::row& r, ExpiredVideo& v) {
    ReadVideoCommandRow(r, v);
    v.lease_owner = r[4].as<std::string>();
  });
}

void RequeueExpiredVideo(pqxx::work& txn, const ExpiredVideo& video, const std::string& reason) {
  txn.exec_params(
      "UPDATE videos SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
      "last_error = $3, error_class = 'transient', updated_at = now() "
      "WHERE job_id = $1::uuid AND video_id = $2",
      video.job_id, video.video_id, reason);
}

std::vector<ExpiredDiscovery> LockExpiredDiscoveryLeases(pqxx::work& txn, int limit) {
  auto rows = txn.exec_params(
      "SELECT id::text, discovery_attempts, coalesce(lease_owner, ''), trace_id, channel_url, "
      "options::text FROM jobs WHERE state = 'running' AND video_count IS NULL "
      "AND lease_expires_at < now() ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
      limit);
  return ReadRows<ExpiredDiscovery>(rows, [](const pqxx::row& r, ExpiredDiscovery& d) {
    ReadDiscoveryCommandRow(r, d);
    d.lease_owner = r[2].as<std::string>();
  });
}

void ClearDiscoveryLease(pqxx::work& txn, const std::string& job_id) {
  ReleaseDiscoveryLease(txn, job_id);
}

std::vector<StuckVideo> LockStuckPendingVideos(pqxx::work& txn, int stuck_after_s, int limit) {
  // $1: the deadline in seconds. A stage is busy when a video runs it under a live lease or one
  // was claimed at it within the deadline (timings.<stage>.started_at is written by every claim;
  // such a video was updated then too, so updated_at narrows the scan). The busy stages are found
  // once per round, not per candidate.
  auto rows = txn.exec_params(
      "WITH busy AS (SELECT stage FROM videos WHERE state = 'running' AND lease_expires_at > "
      "now() UNION SELECT t.key FROM videos w, jsonb_each(w.timings) t WHERE w.updated_at >= "
      "now() - make_interval(secs => $1) AND jsonb_typeof(t.value) = 'object' AND "
      "(t.value ->> 'started_at')::timestamptz >= now() - make_interval(secs => $1)) "
      "SELECT v.job_id::text, v.video_id, v.stage, v.attempts, "
      "floor(extract(epoch from now() - v.updated_at))::bigint, j.trace_id, v.url, "
      "coalesce(v.title, ''), coalesce(v.media_path, ''), coalesce(v.audio_path, '') "
      "FROM videos v JOIN jobs j ON j.id = v.job_id "
      "WHERE v.state = 'pending' AND j.state IN ('queued', 'running') "
      "AND v.updated_at < now() - make_interval(secs => $1) "
      "AND v.stage NOT IN (SELECT stage FROM busy) "
      "ORDER BY v.updated_at LIMIT $2 FOR UPDATE OF v SKIP LOCKED",
      stuck_after_s, limit);
  return ReadRows<StuckVideo>(rows, [](const pqxx::row& r, StuckVideo& v) {
    ReadVideoCommandRow(r, v);
    v.idle_s = r[4].as<long long>();
  });
}

void TouchStuckVideo(pqxx::work& txn, const StuckVideo& video, const std::string& reason) {
  txn.exec_params(
      "UPDATE videos SET attempts = attempts + 1, last_error = $3, error_class = 'transient', "
      "updated_at = now() WHERE job_id = $1::uuid AND video_id = $2 AND state = 'pending'",
      video.job_id, video.video_id, reason);
}

std::vector<StuckDiscovery> LockStuckDiscoveries(pqxx::work& txn, int stuck_after_s, int limit) {
  // Discovery is quiet when no job holds a live discovery lease, none started (first claim)
  // within the deadline and none is between a released lease and its retry within it.
  auto rows = txn.exec_params(
      "SELECT id::text, discovery_attempts, state, trace_id, channel_url, options::text, "
      "floor(extract(epoch from now() - updated_at))::bigint FROM jobs j WHERE state IN ('queued', "
      "'running') AND video_count IS NULL "
      "AND lease_expires_at IS NULL AND updated_at < now() - make_interval(secs => $1) "
      "AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.state = 'running' AND o.video_count IS NULL "
      "  AND (o.lease_expires_at > now() OR o.updated_at >= now() - make_interval(secs => $1))) "
      "AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.started_at >= now() - make_interval(secs => "
      "  $1)) "
      "ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED",
      stuck_after_s, limit);
  return ReadRows<StuckDiscovery>(rows, [](const pqxx::row& r, StuckDiscovery& d) {
    ReadDiscoveryCommandRow(r, d);
    d.state = r[2].as<std::string>();
    d.idle_s = r[6].as<long long>();
  });
}

void TouchStuckDiscovery(pqxx::work& txn, const std::string& job_id) {
  txn.exec_params(
      "UPDATE jobs SET discovery_attempts = discovery_attempts + 1, updated_at = now() "
      "WHERE id = $1::uuid",
      job_id);
}

std::optional<nlohmann::json> StageCommandData(Stage stage, const std::string& url,
                                               const std::string& title,
                                               const std::string& media_path,
                                               const std::string& audio_path) {
  switch (stage) {
    case Stage::kDownload: {
      if (url.empty()) return std::nullopt;
      nlohmann::json data = {{"url", url}};
      if (!title.empty()) data["title"] = title;
      return data;
    }
    case Stage::kAudioExtraction:
      if (media_path.empty()) return std::nullopt;
      return nlohmann::json{{"media_path", media_path}};
    case Stage::kTranscription:
      if (audio_path.empty()) return std::nullopt;
      return nlohmann::json{{"audio_path", audio_path}};
    case Stage::kSummarization:
      return nlohmann::json::object();
    case Stage::kDiscovery:
      break;
  }
  return std::nullopt;
}

nlohmann::json DiscoveryCommandData(const std::string& channel_url, const nlohmann::json& options) {
  nlohmann::json data = {{"channel_url", channel_url}, {"max_videos", 20}};
  if (!options.is_object()) return data;
  // Every filter the job was created with: a retried or re-enqueued discovery lists the same
  // videos as the first one.
  if (auto m = options.find("max_videos"); m != options.end() && m->is_number_integer()) {
    data["max_videos"] = *m;
  }
  if (auto p = options.find("published_after"); p != options.end() && p->is_string()) {
    data["published_after"] = *p;
  }
  if (auto d = options.find("max_duration_s"); d != options.end() && d->is_number()) {
    data["max_duration_s"] = *d;
  }
  // Caption languages (issue 15 §2): download and transcription read them from the job's options
  // (the claim), so every command rebuilt from the job keeps them; discovery's command carries
  // them too, as the job's contract.
  if (auto c = options.find("caption_languages");
      c != options.end() && c->is_array() && !c->empty()) {
    data["caption_languages"] = *c;
  }
  // A subscription check's feed pre-check (0016): a re-enqueued discovery reads the same feed.
  if (auto f = options.find("feed"); f != options.end() && f->is_object()) data["feed"] = *f;
  return data;
}

bool InsertDeadLetter(pqxx::work& txn, const DeadLetter& d) {
  auto r = txn.exec_params(
      "INSERT INTO dead_letters (queue, stage, reason, headers, message_id, body, job_id, "
      "video_id) VALUES ($1, NULLIF($2, ''), $3, $4::jsonb, $5, $6, NULLIF($7, '')::uuid, "
      "NULLIF($8, '')) ON CONFLICT (queue, message_id) WHERE message_id <> '' DO NOTHING "
      "RETURNING 1",
      d.queue, d.stage, d.reason, d.headers.dump(), d.message_id, d.body, d.job_id, d.video_id);
  return !r.empty();
}

std::optional<int> FailVideoDeadLettered(pqxx::work& txn, const std::string& job_id,
                                         const std::string& video_id, Stage stage,
                                         const std::string& reason) {
  auto r = txn.exec_params(
      "UPDATE videos SET state = 'failed', last_error = $4, error_class = 'dead_lettered', "
      "lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now() "
      "WHERE job_id = $1::uuid AND video_id = $2 AND stage = $3 AND (state = 'pending' OR "
      "(state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < now()))) "
      "RETURNING attempts",
      job_id, video_id, std::string(StageName(stage)), reason);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<int>();
}

bool FailDiscoveryDeadLettered(pqxx::work& txn, const std::string& job_id,
                               const std::string& reason) {
  auto r = txn.exec_params(
      "UPDATE jobs SET state = 'failed', error = $2, error_class = 'dead_lettered', "
      "lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now() "
      "WHERE id = $1::uuid AND state IN ('queued', 'running') AND video_count IS NULL "
      "RETURNING 1",
      job_id, reason);
  return !r.empty();
}

nlohmann::ordered_json ListDeadLetters(pqxx::work& txn, const std::string& job_id, int limit,
                                       long long before_id) {
  limit = std::clamp(limit, 1, 500);
  const std::string cols =
      std::string(
          "SELECT id, queue, coalesce(stage, ''), reason, headers::text, message_id, "
          "body, coalesce(job_id::text, ''), coalesce(video_id, ''), ") +
      kReceivedAt + ", " + kReplayedAt + " FROM dead_letters ";
  pqxx::result rows;
  if (job_id.empty()) {
    rows = txn.exec_params(
        cols + "WHERE ($1::bigint = 0 OR id < $1::bigint) ORDER BY id DESC LIMIT $2", before_id,
        limit);
  } else {
    rows = txn.exec_params(cols +
                               "WHERE job_id = $1::uuid AND ($2::bigint = 0 OR id < $2::bigint) "
                               "ORDER BY id DESC LIMIT $3",
                           job_id, before_id, limit);
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& r : rows) {
    nlohmann::ordered_json d;
    d["id"] = r[0].as<long long>();
    d["queue"] = r[1].as<std::string>();
    d["stage"] = r[2].is_null() || r[2].as<std::string>().empty()
                     ? nlohmann::ordered_json(nullptr)
                     : nlohmann::ordered_json(r[2].as<std::string>());
    d["reason"] = r[3].as<std::string>();
    d["headers"] = Jsonb(r[4]);
    d["message_id"] = r[5].as<std::string>();
    d["body"] = r[6].as<std::string>();
    d["job_id"] = r[7].as<std::string>().empty() ? nlohmann::ordered_json(nullptr)
                                                 : nlohmann::ordered_json(r[7].as<std::string>());
    d["video_id"] = r[8].as<std::string>().empty() ? nlohmann::ordered_json(nullptr)
                                                   : nlohmann::ordered_json(r[8].as<std::string>());
    d["received_at"] = r[9].as<std::string>();
    d["replayed_at"] =
        r[10].is_null() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(S(r[10]));
    out.push_back(std::move(d));
  }
  return out;
}

RetryPlan PlanJobRetry(pqxx::work& txn, const std::string& job_id) {
  RetryPlan plan;
  auto job = txn.exec_params(
      "SELECT state, trace_id, channel_url, options::text, video_count IS NULL "
      "FROM jobs WHERE id = $1::uuid FOR UPDATE",
      job_id);
  if (job.empty()) return plan;
  plan.found = true;
  plan.state = job[0][0].as<std::string>();
  plan.trace_id = job[0][1].as<std::string>();
  plan.channel_url = job[0][2].as<std::string>();
  plan.options = Jsonb(job[0][3]);
  const bool no_videos_yet = job[0][4].as<bool>();
  if (plan.state == "cancelled") return plan;
  if (plan.state == "failed" && no_videos_yet) {
    plan.discovery = true;
    return plan;
  }
  auto rows = txn.exec_params(
      "SELECT video_id, stage, url, coalesce(title, ''), coalesce(media_path, ''), "
      "coalesce(audio_path, '') FROM videos WHERE job_id = $1::uuid AND state = 'failed' "
      "ORDER BY position, video_id FOR UPDATE",
      job_id);
  for (const auto& r : rows) {
    RetryVideo v;
    v.video_id = r[0].as<std::string>();
    v.stage = StageOf(r[1].as<std::string>());
    v.url = S(r[2]);
    v.title = r[3].as<std::string>();
    v.media_path = r[4].as<std::string>();
    v.audio_path = r[5].as<std::string>();
    plan.videos.push_back(std::move(v));
  }
  return plan;
}

void ResetVideoForRetry(pqxx::work& txn, const std::string& job_id, const std::string& video_id) {
  txn.exec_params(
      "UPDATE videos SET state = 'pending', attempts = 0, last_error = NULL, error_class = NULL, "
      "lease_owner = NULL, lease_expires_at = NULL, finished_at = NULL, updated_at = now() "
      "WHERE job_id = $1::uuid AND video_id = $2",
      job_id, video_id);
}

void ReopenJobForRetry(pqxx::work& txn, const std::string& job_id, bool discovery) {
  txn.exec_params(
      "UPDATE jobs SET state = CASE WHEN $2::boolean THEN 'queued' ELSE 'running' END, error = "
      "NULL, "
      "error_class = NULL, finished_at = NULL, lease_owner = NULL, lease_expires_at = NULL, "
      // Its digest is built again when it finishes again, from the new summaries (§3.8).
      "digest_at = NULL, "
      "discovery_attempts = CASE WHEN $2::boolean THEN 0 ELSE discovery_attempts END, updated_at = "
      "now() "
      "WHERE id = $1::uuid",
      job_id, discovery);
  txn.exec_params(
      "UPDATE dead_letters SET replayed_at = now() WHERE job_id = $1::uuid AND replayed_at IS NULL",
      job_id);
}

}  // namespace chansum::store
