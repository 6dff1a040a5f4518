// GET /jobs/{id}: the job's view (whole or a page of its videos), its version, and the change feed
// step the orchestrator follows to keep versions current (chansum/store/job_view.hpp).
#include "chansum/store/job_view.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "chansum/common/strings.hpp"
#include "chansum/protocol/command.hpp"
#include "chansum/store/live.hpp"
#include "chansum/store/store.hpp"

namespace chansum::store {
namespace {

using protocol::Stage;
using protocol::StageName;

constexpr std::size_t kMaxCursorVideoIdBytes = 1024;

nlohmann::json NullableString(const pqxx::field& f) {
  return f.is_null() ? nlohmann::json(nullptr) : nlohmann::json(f.as<std::string>());
}

nlohmann::json Jsonb(const pqxx::field& f) {
  if (f.is_null()) return nullptr;
  return nlohmann::json::parse(f.c_str(), nullptr, false);
}

// Timestamps are rendered by PostgreSQL in RFC 3339 UTC with milliseconds.
std::string Ts(const std::string& column) {
  return "to_char(" + column + R"( AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))";
}

// sum(seq) is numeric: reduced modulo 2^64 so that it matches the unsigned sum kept in memory.
constexpr const char* kSeqSum = "(coalesce(sum(c.seq), 0) % 18446744073709551616)::text";

JobVersion ParseVersion(const pqxx::field& count, const pqxx::field& sum) {
  JobVersion v;
  v.changes = count.as<std::int64_t>();
  v.seq_sum = std::stoull(sum.as<std::string>());
  return v;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

nlohmann::ordered_json VideoItem(const pqxx::row& v) {
  nlohmann::ordered_json item;
  item["video_id"] = v[0].as<std::string>();
  item["title"] = NullableString(v[1]);
  item["url"] = v[2].as<std::string>();
  item["duration_s"] = v[3].is_null() ? nlohmann::json(nullptr) : nlohmann::json(v[3].as<double>());
  item["published_at"] = NullableString(v[4]);
  item["stage"] = v[5].as<std::string>();
  item["state"] = v[6].as<std::string>();
  item["attempts"] = v[7].as<int>();
  item["last_error"] = NullableString(v[8]);
  item["error_class"] = NullableString(v[9]);
  item["timings"] = Jsonb(v[10]);
  item["updated_at"] = NullableString(v[11]);
  item["finished_at"] = NullableString(v[12]);
  item["skip_reason"] = NullableString(v[13]);
  // Where the video comes from (issue 18 §3.6): video_id is the source-scoped key the API and the
  // documents use; source_id is the source's own readable id (a feed item's <guid>).
  item["source"] = NullableString(v[15]);
  item["source_id"] = v[16].is_null() ? item["video_id"] : nlohmann::ordered_json(v[16].c_str());
  // Stages jumped over (captions first): timings.<stage>.skipped.
  nlohmann::ordered_json skipped = nlohmann::ordered_json::array();
  if (item["timings"].is_object()) {
    for (Stage s : protocol::kAllStages) {
      const auto& t = item["timings"];
      const std::string name(StageName(s));
      if (t.contains(name) && t[name].is_object() && t[name].value("skipped", false)) {
        skipped.push_back(name);
      }
    }
  }
  item["skipped_stages"] = std::move(skipped);
  return item;
}

}  // namespace

void UseOneSnapshot(pqxx::work& txn) {
  txn.exec0("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
}

JobVersion ReadJobVersion(pqxx::work& txn, const std::string& job_id) {
  auto r = txn.exec_params(std::string("SELECT count(c.seq), ") + kSeqSum +
                               " FROM job_changes c WHERE c.job_id = $1::uuid",
                           job_id);
  return ParseVersion(r[0][0], r[0][1]);
}

std::string EncodeVideoCursor(const VideoCursor& cursor) {
  return std::to_string(cursor.position) + "_" + HexLower(cursor.video_id);
}

Result<VideoCursor> ParseVideoCursor(const std::string& text) {
  const auto bad = [] {
    return Error::Permanent("invalid_cursor", "cursor is not one this API returned");
  };
  const auto sep = text.find('_');
  if (sep == std::string::npos || sep == 0 || sep > 18) return bad();
  const std::string digits = text.substr(0, sep);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad();
  }
  const std::string hex = text.substr(sep + 1);
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() > 2 * kMaxCursorVideoIdBytes) return bad();
  VideoCursor cursor;
  cursor.position = std::stoll(digits);
  if (cursor.position > std::numeric_limits<std::int32_t>::max()) return bad();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexValue(hex[i]);
    const int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    cursor.video_id += static_cast<char>(hi * 16 + lo);
  }
  return cursor;
}

std::optional<nlohmann::ordered_json> GetJobViewPage(pqxx::work& txn, const std::string& job_id,
                                                     int limit, const VideoCursor* after) {
  limit = std::max(limit, 1);
  auto jobs = txn.exec_params(
      "SELECT id::text, channel, channel_url, options::text, state, error, error_class, "
      "video_count, trace_id, " +
          Ts("created_at") + ", " + Ts("started_at") + ", " + Ts("finished_at") + ", " +
          Ts("updated_at") + " FROM jobs WHERE id = $1::uuid",
      job_id);
  if (jobs.empty()) return std::nullopt;
  const auto& r = jobs[0];
  nlohmann::ordered_json out;
  out["job_id"] = r[0].as<std::string>();
  out["channel"] = r[1].as<std::string>();
  out["channel_url"] = r[2].as<std::string>();
  out["options"] = Jsonb(r[3]);
  out["state"] = r[4].as<std::string>();
  out["error"] = NullableString(r[5]);
  out["error_class"] = NullableString(r[6]);
  out["video_count"] = r[7].is_null() ? nlohmann::json(nullptr) : nlohmann::json(r[7].as<int>());
  out["trace_id"] = r[8].as<std::string>();
  out["created_at"] = NullableString(r[9]);
  out["started_at"] = NullableString(r[10]);
  out["finished_at"] = NullableString(r[11]);
  out["updated_at"] = NullableString(r[12]);

  out["counts"] = GetJobCounts(txn, job_id);

  // Job-level warnings (issue 15 §2), e.g. "bot_check": the host wants cookies or a proxy.
  nlohmann::ordered_json warnings = nlohmann::ordered_json::array();
  for (const auto& w :
       txn.exec_params("SELECT code, message, count, " + Ts("first_at") + ", " + Ts("last_at") +
                           " FROM job_warnings WHERE job_id = $1::uuid ORDER BY "
                           "code",
                       job_id)) {
    nlohmann::ordered_json item;
    item["code"] = w[0].as<std::string>();
    item["message"] = w[1].as<std::string>();
    item["count"] = w[2].as<std::int64_t>();
    item["first_at"] = NullableString(w[3]);
    item["last_at"] = NullableString(w[4]);
    warnings.push_back(std::move(item));
  }
  out["warnings"] = std::move(warnings);

  // One row more than the page: whether another page follows.
  const std::string cols = "SELECT video_id, title, url, duration_s, " + Ts("published_at") +
                           ", stage, state, attempts, last_error, error_class, timings::text, " +
                           Ts("updated_at") + ", " + Ts("finished_at") +
                           ", skip_reason, position, source, source_id FROM videos "
                           "WHERE job_id = $1::uuid ";
  const long long fetch = static_cast<long long>(limit) + 1;
  pqxx::result videos;
  if (after == nullptr) {
    videos = txn.exec_params(cols + "ORDER BY position, video_id LIMIT $2", job_id, fetch);
  } else {
    videos = txn.exec_params(cols +
                                 "AND (position, video_id) > ($2::integer, $3) "
                                 "ORDER BY position, video_id LIMIT $4",
                             job_id, after->position, after->video_id, fetch);
  }
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  nlohmann::ordered_json next = nullptr;
  for (int i = 0; i < static_cast<int>(videos.size()) && i < limit; ++i) {
    list.push_back(VideoItem(videos[i]));
    if (i == limit - 1 && static_cast<int>(videos.size()) > limit) {
      next = EncodeVideoCursor({videos[i][14].as<std::int64_t>(), videos[i][0].as<std::string>()});
    }
  }
  out["videos"] = std::move(list);
  out["videos_next_cursor"] = std::move(next);
  return out;
}

std::optional<std::string> VideoTitle(pqxx::work& txn, const std::string& video_id) {
  auto rows = txn.exec_params(
      "SELECT title FROM videos WHERE video_id = $1 AND title <> '' "
      "ORDER BY created_at DESC LIMIT 1",
      video_id);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::string>();
}

std::optional<nlohmann::ordered_json> GetJobView(pqxx::work& txn, const std::string& job_id) {
  auto view = GetJobViewPage(txn, job_id, std::numeric_limits<int>::max() - 1, nullptr);
  if (view) view->erase("videos_next_cursor");
  return view;
}

ChangeFeedStep FollowJobChanges(pqxx::transaction_base& tx, const std::string& previous_snapshot,
                                const std::vector<std::string>& load) {
  std::string ids = "{";
  for (std::size_t i = 0; i < load.size(); ++i) ids += (i ? "," : "") + load[i];
  ids += "}";
  // One statement, so one snapshot: pg_current_snapshot() is the snapshot every part reads.
  std::string sql =
      "SELECT 's', pg_current_snapshot()::text, 0::bigint, ''::text "
      "UNION ALL "
      "SELECT 'l', j.id::text, count(c.seq), " +
      std::string(kSeqSum) +
      " FROM unnest($1::uuid[]) AS j(id) LEFT JOIN job_changes c ON c.job_id = j.id "
      "GROUP BY j.id";
  pqxx::result rows;
  if (previous_snapshot.empty()) {
    rows = tx.exec_params(sql, ids);
  } else {
    // The previous snapshot's xmax and in-progress xids ("xmin:xmax:xip,xip,..."), passed as
    // values so that the planner sees them and scans job_changes_xid_idx (with the snapshot's
    // functions in the query it cannot estimate the rows and reads the whole table).
    const auto first = previous_snapshot.find(':');
    const auto second = previous_snapshot.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) {
      throw std::invalid_argument("not a pg_snapshot: " + previous_snapshot);
    }
    const std::string xmax = previous_snapshot.substr(first + 1, second - first - 1);
    const std::string xip = "{" + previous_snapshot.substr(second + 1) + "}";
    sql +=
        " UNION ALL "
        "SELECT 'c', c.job_id::text, c.seq, '' FROM job_changes c "
        "WHERE c.xid >= $2::xid8 OR c.xid = ANY($3::xid8[])";
    rows = tx.exec_params(sql, ids, xmax, xip);
  }
  ChangeFeedStep step;
  for (const auto& r : rows) {
    const std::string kind = r[0].as<std::string>();
    if (kind == "s") {
      step.snapshot = r[1].as<std::string>();
    } else if (kind == "c") {
      step.changes.emplace_back(r[1].as<std::string>(), r[2].as<std::int64_t>());
    } else {
      step.loaded.emplace_back(r[1].as<std::string>(), ParseVersion(r[2], r[3]));
    }
  }
  return step;
}

}  // namespace chansum::store
