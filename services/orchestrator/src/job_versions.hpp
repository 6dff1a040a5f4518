#pragma once
// Versions of the jobs being polled, kept current in memory so that GET /jobs/{id} with
// If-None-Match answers 304 without a database round trip (issue 14).
//
// One thread follows job_changes from snapshot to snapshot (store::FollowJobChanges): each step
// is one statement that takes a snapshot, reads the rows that became visible since the previous
// step's snapshot, and loads the versions of jobs asked for since. A job's version in memory is
// therefore exactly its version in the snapshot of the last step. Current() answers only while
// that step started at most `max_lag` ago; otherwise (feed behind, down, or the job not loaded
// yet) it answers nullopt and the caller reads the database. Memory is bounded: at most `max_jobs`
// jobs, the least recently asked for dropped first, and jobs nobody asked for in `idle_evict`
// dropped; with none left the thread stops querying.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <pqxx/pqxx>

#include "chansum/common/result.hpp"
#include "chansum/store/job_view.hpp"

namespace chansum::orchestrator {

struct JobVersionOptions {
  std::chrono::milliseconds poll_interval{10};     // JOB_VERSIONS_POLL_MS
  std::chrono::milliseconds max_lag{250};          // JOB_VERSIONS_MAX_LAG_MS
  std::size_t max_jobs = 10000;                    // JOB_VERSIONS_MAX_JOBS
  std::chrono::milliseconds idle_evict{60000};     // a job not asked for this long is dropped
  std::chrono::milliseconds reload_after{300000};  // versions reloaded (retention deletes rows)
};

// The strong ETag of GET /jobs/{id}?limit=&cursor= for a version of the job's view. Equal for
// every orchestrator (a client may poll several replicas); includes the page parameters.
[[nodiscard]] std::string JobViewEtag(const std::string& job_id, const store::JobVersion& version,
                                      int limit, const std::string& cursor);
// True when an If-None-Match value ("a", W/"b", ...) lists `etag` (weak comparison, RFC 9110).
// "*" is not handled here.
[[nodiscard]] bool IfNoneMatchLists(const std::string& if_none_match, const std::string& etag);

class JobVersions {
 public:
  using Connect = std::function<std::unique_ptr<pqxx::connection>()>;
  JobVersions(Connect connect, JobVersionOptions options);

  // The job's version as of a step that started at most max_lag ago, or nullopt (then the job is
  // queued for loading and the caller must read the database). `job_id`: lower-case UUID.
  [[nodiscard]] std::optional<store::JobVersion> Current(const std::string& job_id);

  // One step of the feed (the loop calls it; tests may too). Errors leave every job unknown.
  Status Step();
  // Steps every poll_interval until `stop`.
  void Run(const std::atomic<bool>& stop);

  [[nodiscard]] std::size_t size() const;

 private:
  struct Entry {
    store::JobVersion version;
    std::chrono::steady_clock::time_point loaded_at;
    std::atomic<std::int64_t> last_used{0};  // steady_clock ticks
  };
  void Reset();
  void Evict(std::chrono::steady_clock::time_point now);

  Connect connect_;
  JobVersionOptions options_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  std::unordered_set<std::string> wanted_;
  // steady_clock ticks at which the last successful step started (0: none since the last reset).
  std::int64_t fresh_as_of_ = 0;
  // Feed thread only.
  std::unique_ptr<pqxx::connection> conn_;
  std::string snapshot_;
  std::chrono::steady_clock::time_point next_maintenance_{};
};

}  // namespace chansum::orchestrator
