#include "routes_live.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <regex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "api.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/store/live.hpp"
#include "chansum/store/store.hpp"

namespace chansum::orchestrator {
namespace {

using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

const std::regex kJobId(
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
constexpr int kMaxRowsPerPoll = 1000;

// The data of a `job` event: the job row's payload (from the change feed or the snapshot) with
// the counts as they are now.
ordered_json JobEventData(const ordered_json& job, const ordered_json& counts) {
  ordered_json out;
  out["job_id"] = job.value("job_id", "");
  out["state"] = job.value("state", "");
  out["video_count"] = job.contains("video_count") ? job["video_count"] : ordered_json(nullptr);
  out["counts"] = counts;
  for (const char* key : {"error", "error_class", "finished_at", "updated_at"}) {
    out[key] = job.contains(key) ? job[key] : ordered_json(nullptr);
  }
  return out;
}

// One open stream. Lives as long as the response (shared by the provider calls).
struct EventStream {
  std::string job_id;
  bool send_snapshot = true;
  std::int64_t low = 0;         // every change <= low is delivered (or in the snapshot)
  std::set<std::int64_t> seen;  // delivered changes above `low`
  std::int64_t last_id = 0;     // id of the last event written
  ordered_json snapshot;        // GET /jobs/{id} at the start (snapshot mode)
  bool started = false;
  Clock::time_point last_write = Clock::now();
  Clock::time_point next_poll = Clock::now();
};

// Sleeps until `until`, in short slices; false when the server is stopping meanwhile.
bool SleepUntil(Clock::time_point until, const LiveOptions& options) {
  while (Clock::now() < until) {
    if (options.stopping && options.stopping()) return false;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(100)));
  }
  return !(options.stopping && options.stopping());
}

}  // namespace

std::string FormatSseEvent(const std::string& type, std::int64_t id, const ordered_json& data) {
  // dump() escapes control characters, so the data is one line.
  return "event: " + type + "\nid: " + std::to_string(id) +
         "\ndata: " + data.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n\n";
}

std::optional<std::int64_t> ParseLastEventId(const std::string& value) {
  if (value.empty() || value.size() > 18) return std::nullopt;
  if (!std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoll(value);
}

bool IsTerminalJobState(const std::string& state) {
  return state == "completed" || state == "completed_with_errors" || state == "failed" ||
         state == "cancelled";
}

void RegisterLiveRoutes(httplib::Server& server, const ApiDeps& deps) {
  const LiveOptions options = deps.live;
  // Each open stream holds a connection thread (ConfigureJsonServer gives every connection one,
  // up to HTTP_MAX_CONNECTIONS), so streams never take the threads of ordinary requests.
  auto active = std::make_shared<std::atomic<int>>(0);

  server.Get(R"(/jobs/([^/]+)/events)", [deps, options, active](const httplib::Request& req,
                                                                httplib::Response& res) {
    const std::string id = req.matches[1];
    if (!std::regex_match(id, kJobId)) {
      SendError(res, 400, "invalid_job_id", "job id must be a UUID");
      return;
    }
    std::string resume_text = req.get_header_value("Last-Event-ID");
    if (resume_text.empty() && req.has_param("last_event_id")) {
      resume_text = req.get_param_value("last_event_id");
    }
    const auto resume = ParseLastEventId(resume_text);
    if (active->fetch_add(1) >= options.max_streams) {
      active->fetch_sub(1);
      res.set_header("Retry-After", "5");
      SendError(res, 503, "too_many_streams",
                "too many open event streams (EVENTS_MAX_STREAMS=" +
                    std::to_string(options.max_streams) + "); try again later");
      return;
    }
    auto stream = std::make_shared<EventStream>();
    stream->job_id = id;
    bool found = false;
    auto st = deps.txn([&](pqxx::work& txn) {
      // The feed position first, then the view: a change committed in between shows in both
      // (delivered twice, harmless), never in neither.
      stream->send_snapshot = true;
      stream->seen.clear();
      if (resume) {
        const auto bounds = store::GetChangeBounds(txn);
        // Resumable unless rows after it may have been cleaned up, or it is not from here.
        if (*resume + 1 >= bounds.min_seq && *resume <= bounds.max_seq) {
          stream->send_snapshot = false;
          stream->low = *resume;
          stream->last_id = *resume;
        }
      }
      if (stream->send_snapshot) {
        stream->low = store::SettledHighWater(txn, id, options.settle_ms);
        stream->last_id = stream->low;
        for (const auto& c : store::ReadJobChanges(txn, id, stream->low, 0, kMaxRowsPerPoll)) {
          stream->seen.insert(c.seq);
          stream->last_id = c.seq;
        }
      }
      auto view = store::GetJobView(txn, id);
      found = view.has_value();
      if (view) stream->snapshot = std::move(*view);
    });
    if (!st.ok() || !found) {
      active->fetch_sub(1);
      if (!st.ok()) {
        SendFailure(res, st.error());
      } else {
        SendError(res, 404, "job_not_found", "no job with id " + id);
      }
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [deps, options, stream](std::size_t, httplib::DataSink& sink) -> bool {
          auto write = [&](const std::string& text) {
            stream->last_write = Clock::now();
            return sink.write(text.data(), text.size());
          };
          auto finish = [&] {
            sink.done();
            return true;
          };
          if (!stream->started) {
            stream->started = true;
            std::string first = "retry: " + std::to_string(options.retry_ms) + "\n\n";
            if (stream->send_snapshot) {
              first += FormatSseEvent("snapshot", stream->last_id, stream->snapshot);
            }
            if (!write(first)) return false;
            const std::string state = stream->snapshot.value("state", "");
            if (stream->send_snapshot && IsTerminalJobState(state)) {
              write(FormatSseEvent("job", stream->last_id,
                                   JobEventData(stream->snapshot, stream->snapshot["counts"])));
              return finish();
            }
            stream->snapshot = nullptr;  // no longer needed
            stream->next_poll = Clock::now();
          }
          if (!SleepUntil(stream->next_poll, options)) return finish();
          stream->next_poll = Clock::now() + std::chrono::milliseconds(options.poll_ms);

          std::vector<store::JobChange> changes;
          std::string job_state;
          ordered_json job_row;
          ordered_json counts;
          auto polled = deps.txn([&](pqxx::work& txn) {
            auto rows = txn.exec_params(
                "SELECT state, video_count, error, error_class, "
                "to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
                "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
                "FROM jobs WHERE id = $1::uuid",
                stream->job_id);
            if (!rows.empty()) {
              const auto& r = rows[0];
              job_state = r[0].as<std::string>();
              auto text = [](const pqxx::field& f) {
                return f.is_null() ? ordered_json(nullptr) : ordered_json(f.as<std::string>());
              };
              job_row = {{"job_id", stream->job_id},
                         {"state", job_state},
                         {"video_count",
                          r[1].is_null() ? ordered_json(nullptr) : ordered_json(r[1].as<int>())},
                         {"error", text(r[2])},
                         {"error_class", text(r[3])},
                         {"finished_at", text(r[4])},
                         {"updated_at", text(r[5])}};
            }
            changes = store::ReadJobChanges(txn, stream->job_id, stream->low, options.settle_ms,
                                            kMaxRowsPerPoll);
            counts = store::GetJobCounts(txn, stream->job_id);
          });
          if (!polled.ok()) {
            spdlog::warn("event stream of job {}: {}", stream->job_id, polled.error().message);
          } else {
            std::string out;
            bool last_was_job = false;
            bool delivered = false;
            for (const auto& c : changes) {
              if (stream->seen.count(c.seq) > 0) continue;
              stream->seen.insert(c.seq);
              stream->last_id = std::max(stream->last_id, c.seq);
              delivered = true;
              if (c.kind == "job") {
                out += FormatSseEvent("job", c.seq, JobEventData(c.payload, counts));
                last_was_job = true;
              } else {
                out += FormatSseEvent("video", c.seq, c.payload);
                last_was_job = false;
              }
            }
            // After video changes, the job's current counts (for progress bars).
            const bool terminal = IsTerminalJobState(job_state);
            if (!job_row.is_null() && !last_was_job && (delivered || terminal)) {
              out += FormatSseEvent("job", stream->last_id, JobEventData(job_row, counts));
            }
            // A full page: read the rest at once.
            if (changes.size() >= static_cast<std::size_t>(kMaxRowsPerPoll)) {
              stream->next_poll = Clock::now();
            }
            // Advance `low` over the settled prefix; later rows stay in `seen`.
            for (const auto& c : changes) {
              if (!c.settled) break;
              stream->low = c.seq;
            }
            stream->seen.erase(stream->seen.begin(), stream->seen.upper_bound(stream->low));
            if (!out.empty() && !write(out)) return false;
            if (terminal || job_row.is_null()) return finish();  // ended (or deleted)
          }
          if (Clock::now() - stream->last_write >=
              std::chrono::seconds(options.heartbeat_seconds)) {
            if (!write(": heartbeat\n\n")) return false;
          }
          return true;
        },
        [active](bool) { active->fetch_sub(1); });
  });

  server.Post(R"(/jobs/([^/]+)/cancel)",
              [deps](const httplib::Request& req, httplib::Response& res) {
                const std::string id = req.matches[1];
                if (!std::regex_match(id, kJobId)) {
                  SendError(res, 400, "invalid_job_id", "job id must be a UUID");
                  return;
                }
                store::CancelResult result;
                auto st = deps.txn([&](pqxx::work& txn) { result = store::CancelJob(txn, id); });
                if (!st.ok()) {
                  SendFailure(res, st.error());
                  return;
                }
                switch (result.outcome) {
                  case store::CancelOutcome::kNotFound:
                    SendError(res, 404, "job_not_found", "no job with id " + id);
                    return;
                  case store::CancelOutcome::kAlreadyClosed:
                    SendError(res, 409, "job_finished",
                              "job " + id + " has already finished (state " + result.state + ")");
                    return;
                  case store::CancelOutcome::kCancelled:
                    break;
                }
                spdlog::info("job {} cancelled ({} unfinished videos skipped)", id, result.skipped);
                SendJson(res, 202, ordered_json{{"job_id", id}, {"state", "cancelled"}});
              });
}

}  // namespace chansum::orchestrator
