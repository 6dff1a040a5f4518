#pragma once
// One delivered command, processed start to finish against PostgreSQL (no AMQP in here, so the
// whole state machine is testable with a real database and no broker).
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include <pqxx/pqxx>

#include "chansum/protocol/events.hpp"
#include "chansum/stage/leases.hpp"
#include "chansum/stage/stage.hpp"

namespace chansum::stage {

enum class Disposition {
  kAck,      // the outcome is recorded (done, retried, failed or dead-lettered): ack
  kRequeue,  // nothing could be recorded (e.g. the database is down): nack and requeue
};

struct ProcessOutcome {
  Disposition disposition = Disposition::kAck;
  std::string summary;  // one line for the log: "done", "retry 2/5 in 1.8s: ...", ...
  // For metrics: done | retried | failed | skipped | duplicate | dead_lettered | requeued.
  const char* kind = "done";
};

// The data of the event that ends `stage` (video.downloaded, audio.extracted, ...): the contract's
// fields taken from the handler's StageOutput::event_data (bytes, audio_seconds, engine, segments,
// key_points, summary_chars) plus duration_ms. A fact the handler did not report (e.g. a reused
// result) gets a neutral value (0, or "unknown" for the engine); other keys are dropped.
[[nodiscard]] nlohmann::json StageEventData(protocol::Stage stage, const nlohmann::json& facts,
                                            std::int64_t duration_ms);

class Processor {
 public:
  Processor(const RunnerConfig& config, Handler handler, docstore::DocStore* docs,
            std::function<bool()> should_stop);

  // Processes one message body. `conn` is this worker's connection (reopened by the caller after
  // a connection failure, which surfaces as kRequeue).
  ProcessOutcome Process(pqxx::connection& conn, const std::string& body);

  // Registers every claim with `keeper` while its handler runs, so the runner's lease thread
  // renews it (optional: without one, leases are only set at claim time).
  void SetLeaseKeeper(LeaseKeeper* keeper) { leases_ = keeper; }

 private:
  // Claims the work (quick transaction), runs the handler outside any transaction, then records
  // the outcome with one of the two below.
  ProcessOutcome Handle(pqxx::connection& conn, const protocol::Command& cmd);
  ProcessOutcome RecordDiscoveryOutcome(pqxx::connection& conn, const protocol::Command& cmd,
                                        const store::Claim& claim, Result<StageOutput>& result,
                                        std::int64_t ms);
  ProcessOutcome RecordVideoOutcome(pqxx::connection& conn, const protocol::Command& cmd,
                                    const store::Claim& claim, Result<StageOutput>& result,
                                    std::int64_t ms);
  ProcessOutcome DeadLetter(pqxx::connection& conn, const std::string& body,
                            const std::string& reason);
  void EnqueueCommand(pqxx::work& txn, const protocol::Command& cmd, const std::string& queue,
                      std::optional<int> expiration_ms);
  void EnqueueRetry(pqxx::work& txn, const protocol::Command& cmd, int next_attempt,
                    std::chrono::milliseconds delay);
  // Domain events, written in the caller's transaction (see outbox::EnqueueEvent).
  void EmitEvent(pqxx::work& txn, protocol::EventType type, const protocol::Command& cmd,
                 const store::Claim& claim, nlohmann::json data);
  void EmitJobCompleted(pqxx::work& txn, const protocol::Command& cmd, const store::Claim& claim);

  const RunnerConfig& config_;
  Handler handler_;
  docstore::DocStore* docs_;
  std::function<bool()> should_stop_;
  LeaseKeeper* leases_ = nullptr;
};

}  // namespace chansum::stage
