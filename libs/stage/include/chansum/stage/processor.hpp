#pragma once
// One delivered command, processed start to finish against PostgreSQL (no AMQP in here, so the
// whole state machine is testable with a real database and no broker).
#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "chansum/stage/stage.hpp"

namespace chansum::stage {

enum class Disposition {
  kAck,      // the outcome is recorded (done, retried, failed or dead-lettered): ack
  kRequeue,  // nothing could be recorded (e.g. the database is down): nack and requeue
};

struct ProcessOutcome {
  Disposition disposition = Disposition::kAck;
  std::string summary;  // one line for the log: "done", "retry 2/5 in 1.8s: ...", ...
};

class Processor {
 public:
  Processor(const RunnerConfig& config, Handler handler, docstore::DocStore* docs,
            std::function<bool()> should_stop);

  // Processes one message body. `conn` is this worker's connection (reopened by the caller after
  // a connection failure, which surfaces as kRequeue).
  ProcessOutcome Process(pqxx::connection& conn, const std::string& body);

 private:
  ProcessOutcome ProcessDiscovery(pqxx::connection& conn, const protocol::Command& cmd);
  ProcessOutcome ProcessVideo(pqxx::connection& conn, const protocol::Command& cmd);
  ProcessOutcome DeadLetter(pqxx::connection& conn, const std::string& body,
                            const std::string& reason);
  void EnqueueCommand(pqxx::work& txn, const protocol::Command& cmd, const std::string& queue,
                      std::optional<int> expiration_ms);
  void EnqueueRetry(pqxx::work& txn, const protocol::Command& cmd, int next_attempt,
                    std::chrono::milliseconds delay);

  const RunnerConfig& config_;
  Handler handler_;
  docstore::DocStore* docs_;
  std::function<bool()> should_stop_;
};

}  // namespace chansum::stage
