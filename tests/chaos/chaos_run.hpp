#pragma once
// One chaos run: a job submitted through the API while faults are injected, then the checker.
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "e2e_env.hpp"

namespace chansum::chaos {

// Handler runs of one stage in one job, counted from the services' logs (the stage runner writes
// "handler run: started" before and "handler run: <result> ..." after every run of a handler;
// libs/stage/processor.hpp). An item is a video (discovery: the job).
struct StageRuns {
  int runs = 0;        // handler runs (started lines)
  int items = 0;       // videos with at least one run
  int run_twice = 0;   // videos with more than one run (work done twice, retries included)
  int max_runs = 0;    // most runs of one video
  int ok_twice = 0;    // videos whose handler returned ok more than once (finished work redone)
  int extra_runs = 0;  // runs beyond one per video
};

// What the checker found for one run (one scenario, one job).
struct RunFigures {
  std::string scenario;
  std::string job_id;
  int faults = 0;           // faults injected
  int expected_videos = 0;  // videos the channel has
  int expected_failed = 0;  // of those, meant to fail (permanently, like a vanished video)
  int videos = 0;           // video rows in PostgreSQL
  int done = 0;
  int failed = 0;
  int lost = 0;                   // expected but missing, or done without its documents
  int stuck = 0;                  // not terminal when the run's time was up
  int unexpected_failed = 0;      // failed although not meant to
  int failed_without_reason = 0;  // failed with no error recorded
  int duplicate_documents = 0;    // transcripts + summaries beyond one per done video
  int kafka_missing = 0;          // expected events not on Kafka
  int kafka_redelivered = 0;      // event records seen more than once on Kafka (same event_id)
  int double_emitted = 0;         // one fact emitted as two different events
  int audit_missing = 0;          // Kafka events missing from the audit log
  bool analytics_exact = false;   // analytics figures == PostgreSQL's
  int absorbed = 0;  // duplicate deliveries the services absorbed (redelivery guards, dedup)
  int crashes = 0;   // services that exited by themselves (restarted like a supervisor would)
  // Handler runs per stage (by stage name). The bound the checker asserts: a stage in
  // `rerun_allowed` (a fault that can lose a recorded result or kill a run half way: kill -9 of
  // that stage or of PostgreSQL) is only reported; a stage in `retry_allowed` (a fault that fails
  // runs: the document store gone under the handler) may run a video again only after a failed
  // run (ok exactly once); every other stage runs each video exactly once. In every scenario each
  // done video has at least one ok run in each stage it did not skip.
  std::map<std::string, StageRuns> handler_runs;
  std::set<std::string> rerun_allowed;
  std::set<std::string> retry_allowed;
  double recover_s = 0;               // from the end of the last fault until every check held
  double total_s = 0;                 // from submission until every check held
  std::vector<std::string> problems;  // one line per check that failed

  [[nodiscard]] bool Clean() const { return problems.empty(); }
  [[nodiscard]] nlohmann::json ToJson() const;
};

class ChaosRun {
 public:
  explicit ChaosRun(e2e::ServiceSet& services) : services_(services) {}

  // Submits a job (retrying while the API is down).
  std::string Submit(const std::string& channel, int max_videos);
  // Sleeps `d` while supervising the services (crashed ones are restarted and counted).
  void Pump(std::chrono::milliseconds d);
  // Kills a service with SIGKILL and starts it again.
  void KillAndRestart(const std::string& name, std::chrono::milliseconds down_for);

  // Waits until the job is terminal and every check holds (or `timeout`), then fills
  // `figures` (expected_videos / expected_failed set by the caller; a video counts as "meant to
  // fail" when `meant_to_fail(video_id)`).
  void Check(RunFigures& figures, std::chrono::steady_clock::time_point submitted,
             std::chrono::steady_clock::time_point last_fault_end,
             const std::function<bool(const std::string&)>& meant_to_fail,
             std::chrono::seconds timeout);

  // Publishes a copy of every AMQP message the job has sent so far (commands and events, from
  // the outbox) `copies` times; returns how many were published.
  int PublishDuplicates(const std::string& job_id, int copies);
  // For `d`: every 20 ms, a copy of the command of each video of the job whose stage holds it
  // right now under a live lease (a long stage's claim), so copies land as deliveries of work
  // leased elsewhere, which must run nothing. Returns how many were published.
  int PublishInFlightCopies(const std::string& job_id, std::chrono::milliseconds d);
  // Publishes malformed messages to every stage queue and the events exchange; returns the count.
  int PublishMalformed();

  // Substring occurrences in all service logs (duplicates absorbed are counted from these).
  [[nodiscard]] int AbsorbedSoFar() const;
  // Handler runs of `job_id` per (stage, item) read from every service log: first = runs
  // started, second = runs that returned ok.
  [[nodiscard]] std::map<std::pair<std::string, std::string>, std::pair<int, int>> HandlerRuns(
      const std::string& job_id) const;
  [[nodiscard]] int crashes() const { return crashes_; }

 private:
  e2e::ServiceSet& services_;
  int crashes_ = 0;
  int kafka_cycle_ = 0;
};

// Appends the figures to <dir>/<file>.jsonl and rewrites <dir>/<file>.md (a table).
void WriteReport(const std::vector<RunFigures>& runs, const std::string& file);

}  // namespace chansum::chaos
