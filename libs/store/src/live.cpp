#include "chansum/store/live.hpp"

#include "chansum/protocol/command.hpp"

namespace chansum::store {
namespace {

constexpr const char* kVideoStates[] = {"pending", "running", "done", "failed", "skipped"};

nlohmann::ordered_json ZeroStates() {
  nlohmann::ordered_json j;
  for (const char* s : kVideoStates) j[s] = 0;
  return j;
}

}  // namespace

std::vector<JobChange> ReadJobChanges(pqxx::work& txn, const std::string& job_id,
                                      std::int64_t after, int settle_ms, int limit) {
  auto rows = txn.exec_params(
      "SELECT seq, kind, payload::text, created_at < clock_timestamp() - make_interval(secs => "
      "$3::double precision / 1000) FROM job_changes WHERE job_id = $1::uuid AND seq > $2 "
      "ORDER BY seq LIMIT $4",
      job_id, after, settle_ms, limit);
  std::vector<JobChange> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    JobChange c;
    c.seq = r[0].as<std::int64_t>();
    c.kind = r[1].as<std::string>();
    c.payload = nlohmann::ordered_json::parse(r[2].c_str(), nullptr, false);
    c.settled = r[3].as<bool>();
    out.push_back(std::move(c));
  }
  return out;
}

std::int64_t SettledHighWater(pqxx::work& txn, const std::string& job_id, int settle_ms) {
  auto r = txn.exec_params(
      "SELECT coalesce(max(seq), 0) FROM job_changes WHERE job_id = $1::uuid AND created_at < "
      "clock_timestamp() - make_interval(secs => $2::double precision / 1000)",
      job_id, settle_ms);
  return r[0][0].as<std::int64_t>();
}

ChangeBounds GetChangeBounds(pqxx::work& txn) {
  auto r = txn.exec("SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM job_changes");
  return {r[0][0].as<std::int64_t>(), r[0][1].as<std::int64_t>()};
}

nlohmann::ordered_json GetJobCounts(pqxx::work& txn, const std::string& job_id) {
  nlohmann::ordered_json by_state = ZeroStates();
  nlohmann::ordered_json by_stage;
  for (protocol::Stage s : protocol::kAllStages) {
    if (s == protocol::Stage::kDiscovery) continue;
    by_stage[std::string(protocol::StageName(s))] = ZeroStates();
  }
  auto counts = txn.exec_params(
      "SELECT stage, state, count(*) FROM videos WHERE job_id = $1::uuid GROUP BY stage, state",
      job_id);
  int total = 0;
  for (const auto& c : counts) {
    const auto stage = c[0].as<std::string>();
    const auto state = c[1].as<std::string>();
    const int n = c[2].as<int>();
    total += n;
    by_state[state] = by_state.value(state, 0) + n;
    if (!by_stage.contains(stage)) by_stage[stage] = ZeroStates();
    by_stage[stage][state] = by_stage[stage].value(state, 0) + n;
  }
  return {{"total", total}, {"by_state", by_state}, {"by_stage", by_stage}};
}

std::int64_t DeleteOldJobChanges(pqxx::work& txn, int retention_hours) {
  auto r = txn.exec_params(
      "DELETE FROM job_changes WHERE created_at < now() - make_interval(hours => $1)",
      retention_hours);
  return static_cast<std::int64_t>(r.affected_rows());
}

namespace {

int SkipUnfinishedVideos(pqxx::work& txn, const std::string& job_id) {
  auto r = txn.exec_params(
      "UPDATE videos SET state = 'skipped', last_error = 'cancelled', error_class = NULL, "
      "lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now() "
      "WHERE job_id = $1::uuid AND state IN ('pending', 'running')",
      job_id);
  return static_cast<int>(r.affected_rows());
}

}  // namespace

CancelResult CancelJob(pqxx::work& txn, const std::string& job_id) {
  CancelResult result;
  auto cur = txn.exec_params("SELECT state FROM jobs WHERE id = $1::uuid", job_id);
  if (cur.empty()) return result;  // kNotFound
  result.state = cur[0][0].as<std::string>();
  if (result.state != "queued" && result.state != "running") {
    result.outcome = CancelOutcome::kAlreadyClosed;
    return result;
  }
  // Videos first (a stage finishing a video holds its row, then takes the job row), then the job,
  // then videos again: a discovery that committed while we waited for the job row added them.
  result.skipped = SkipUnfinishedVideos(txn, job_id);
  auto job = txn.exec_params(
      "UPDATE jobs SET state = 'cancelled', error = 'cancelled', error_class = NULL, "
      "finished_at = now(), updated_at = now() "
      "WHERE id = $1::uuid AND state IN ('queued', 'running') RETURNING state",
      job_id);
  if (job.empty()) {
    // It finished while we waited for its row (a stage completed the last video): nothing was
    // pending or running then, so the first statement changed nothing that matters.
    result.outcome = CancelOutcome::kAlreadyClosed;
    result.state =
        txn.exec_params1("SELECT state FROM jobs WHERE id = $1::uuid", job_id)[0].as<std::string>();
    return result;
  }
  result.skipped += SkipUnfinishedVideos(txn, job_id);
  result.outcome = CancelOutcome::kCancelled;
  result.state = "cancelled";
  return result;
}

bool IsJobCancelled(pqxx::work& txn, const std::string& job_id, bool lock) {
  auto r = txn.exec_params(
      std::string("SELECT state FROM jobs WHERE id = $1::uuid") + (lock ? " FOR UPDATE" : ""),
      job_id);
  return !r.empty() && r[0][0].as<std::string>() == "cancelled";
}

bool SkipVideoOfCancelledJob(pqxx::work& txn, const std::string& job_id,
                             const std::string& video_id) {
  auto r = txn.exec_params(
      "UPDATE videos v SET state = 'skipped', last_error = 'cancelled', error_class = NULL, "
      "lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now() "
      "FROM jobs j WHERE j.id = v.job_id AND j.state = 'cancelled' AND v.job_id = $1::uuid "
      "AND v.video_id = $2 AND v.state IN ('pending', 'running')",
      job_id, video_id);
  return r.affected_rows() > 0;
}

}  // namespace chansum::store
