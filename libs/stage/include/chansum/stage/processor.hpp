#pragma once
// Delivered commands, processed start to finish against PostgreSQL (no AMQP in here, so the
// whole state machine is testable with a real database and no broker).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <pqxx/pqxx>

#include "chansum/pipeline/pipeline.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/stage/leases.hpp"
#include "chansum/stage/stage.hpp"

namespace chansum::stage {

enum class Disposition {
  kAck,      // the outcome is recorded (done, retried, failed or dead-lettered): ack
  kRequeue,  // nothing could be recorded (e.g. the database is down): nack and requeue
};

struct ProcessOutcome {
  Disposition disposition = Disposition::kRequeue;
  std::string summary;  // one line for the log: "done", "retry 2/5 in 1.8s: ...", ...
  // For metrics: done | retried | failed | skipped | duplicate | dead_lettered | requeued.
  const char* kind = "requeued";
};

using pipeline::StageEventData;

// The log lines (message `msg`, in the context of the command: stage, job_id, video_id) the
// processor writes around every handler run: "handler run: started" before the handler is called
// and "handler run: <ok|transient|permanent|cancelled> in <n> ms" after it returned. One started
// line is one run of the work; the chaos checker counts them per video and stage
// (docs/reliability.md, "Work done twice").
inline constexpr const char* kHandlerRunStarted = "handler run: started";
inline constexpr const char* kHandlerRunFinished = "handler run: ";

class Processor {
 public:
  Processor(const RunnerConfig& config, Handler handler, docstore::DocStore* docs,
            std::function<bool()> should_stop);

  // Processes a batch of message bodies of this stage's queue; the outcomes come back in the same
  // order. `conn` is this worker's connection (reopened by the caller after a connection failure,
  // which surfaces as kRequeue). A batch of video commands is claimed with one statement and
  // recorded with one transaction (a stage whose handler is short claims and records in the same
  // transaction); kAck is returned only for what that commit made durable: when it fails, every
  // delivery of the batch is requeued.
  std::vector<ProcessOutcome> ProcessBatch(pqxx::connection& conn,
                                           const std::vector<std::string>& bodies);
  // One message (a batch of one).
  ProcessOutcome Process(pqxx::connection& conn, const std::string& body);

  // Registers every claim with `keeper` while its handler runs, so the runner's lease thread
  // renews it (optional: without one, leases are only set at claim time).
  void SetLeaseKeeper(LeaseKeeper* keeper) { leases_ = keeper; }
  // The budget handed to handlers as StageContext::tokens (optional).
  void SetTokenBudget(TokenBudget* tokens) { tokens_ = tokens; }

 private:
  // Each sets the outcomes of its items once their transaction committed.
  void DeadLetter(pqxx::connection& conn,
                  const std::vector<std::pair<std::size_t, std::string>>& malformed,
                  const std::vector<std::string>& bodies, std::vector<ProcessOutcome>& outcomes);
  void HandleVideos(pqxx::connection& conn, std::vector<pipeline::VideoWork>& batch);
  void HandleDiscovery(pqxx::connection& conn, pipeline::VideoWork& work);
  // Runs the handler of one claimed item outside any transaction of its own (the short path runs
  // it inside the batch's transaction, so it then checks no cancellation).
  void RunHandler(pqxx::connection& conn, pipeline::VideoWork& work, bool in_transaction);

  const RunnerConfig& config_;
  // The lease owner of this processor's claims: "<worker_id>/<n>", one per processor (thread),
  // so a claim of another thread of the same process counts as someone else's live work.
  const std::string owner_;
  pipeline::RetryPolicy policy_;
  Handler handler_;
  docstore::DocStore* docs_;
  std::function<bool()> should_stop_;
  LeaseKeeper* leases_ = nullptr;
  TokenBudget* tokens_ = nullptr;
};

}  // namespace chansum::stage
