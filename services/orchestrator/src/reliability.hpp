#pragma once
// The orchestrator's reliability loops and the job retry:
//   - the lease sweeper: work whose lease expired (its worker died or stalled) is re-enqueued
//     through the outbox, or failed after MAX_ATTEMPTS claims, so a job never hangs;
//   - the watchdog (same thread): work that sits non-terminal without progress for STUCK_AFTER
//     (a `pending` video, a `queued` job, a discovery whose lease was released for a retry) had
//     its command lost (a purged queue, a lost delayed retry); its command is written again, the
//     re-enqueue counted as an attempt, and it is failed once MAX_ATTEMPTS are used, so every job
//     ends;
//   - the dead-letter recorder: every message that reaches a <prefix><stage>.dlq queue is
//     recorded in `dead_letters`, its video (or discovery job) still pending/running is failed
//     with error_class "dead_lettered" (the job then finishes), and only then acked;
//   - RetryJob (POST /jobs/{id}/retry): the job's failed and dead-lettered videos start again.
// Everything is safe with several orchestrators: rows are taken with FOR UPDATE SKIP LOCKED and
// each DLQ message is acked by the one consumer that recorded it.
#include <atomic>
#include <chrono>
#include <string>

#include <pqxx/pqxx>

#include "chansum/amqp/config.hpp"
#include "chansum/amqp/consumer.hpp"
#include "chansum/common/config.hpp"
#include "chansum/pg/pg.hpp"

namespace chansum::orchestrator {

struct ReliabilityConfig {
  std::string queue_prefix;                        // QUEUE_PREFIX
  int max_attempts = 5;                            // MAX_ATTEMPTS (same as the stages')
  std::chrono::milliseconds sweep_interval{5000};  // SWEEP_INTERVAL
  // STUCK_AFTER: how long a non-terminal row may sit without progress (its own or its stage's)
  // before the watchdog takes its command for lost. Longer than any legitimate wait for a
  // claim: a delayed retry (RETRY_MAX_DELAY), a stage whose workers are all busy with one long
  // item (they renew a lease: that counts as progress).
  std::chrono::milliseconds stuck_after{std::chrono::minutes(30)};
  int sweep_batch = 100;

  // How often the watchdog looks (it scans more than the lease sweep): a tenth of STUCK_AFTER,
  // between SWEEP_INTERVAL and one minute.
  [[nodiscard]] std::chrono::milliseconds WatchInterval() const;

  [[nodiscard]] static ReliabilityConfig FromEnv(ConfigReader& env);
};

struct SweepResult {
  int requeued = 0;            // videos re-enqueued at their stage
  int failed = 0;              // videos failed (out of attempts)
  int discovery_requeued = 0;  // jobs whose discovery was re-enqueued
  int discovery_failed = 0;    // jobs failed in discovery (out of attempts)
  [[nodiscard]] int total() const {
    return requeued + failed + discovery_requeued + discovery_failed;
  }
};
// One round (one transaction): at most sweep_batch expired videos and jobs.
SweepResult SweepOnce(pqxx::connection& conn, const ReliabilityConfig& config);
// One watchdog round (one transaction): at most sweep_batch stuck videos and stuck discoveries
// (store::LockStuckPendingVideos / LockStuckDiscoveries), re-enqueued or failed; the counts in
// the same fields as a sweep.
SweepResult WatchOnce(pqxx::connection& conn, const ReliabilityConfig& config);
// Sweeps every sweep_interval (and watches every WatchInterval()) until `stop`, reconnecting with
// backoff. Counts what it did in chansum_sweeper_actions_total{cause, action}.
void SweeperLoop(const pg::PgConfig& pg_config, const ReliabilityConfig& config,
                 const std::atomic<bool>& stop);

struct DeadLetterOutcome {
  bool recorded = false;  // false: the same message was recorded before (a redelivery)
  bool video_failed = false;
  bool job_failed = false;  // discovery failed
  std::string job_state;    // set when this finished the job
};
// Records one message read from `queue` (a .dlq queue) in one transaction.
DeadLetterOutcome RecordDeadLetter(pqxx::connection& conn, const ReliabilityConfig& config,
                                   const std::string& queue, const amqp::Delivery& delivery);
// Consumes every <prefix><stage>.dlq queue until `stop`: records, then acks (nack with requeue
// when it cannot record). `ok` tells readiness whether the consumers are up.
void DeadLetterLoop(const amqp::AmqpConfig& amqp_config, const pg::PgConfig& pg_config,
                    const ReliabilityConfig& config, int delivery_limit,
                    const std::atomic<bool>& stop, std::atomic<bool>& ok);

struct RetryOutcome {
  bool found = false;
  std::string state;     // the job's state before
  int requeued = 0;      // commands written (videos, or 1 for a discovery that failed)
  std::string conflict;  // non-empty: why nothing was retried (HTTP 409)
};
// POST /jobs/{id}/retry in the caller's transaction: resets the failed (and dead-lettered) videos
// to pending at the stage they failed in with attempts 0, writes their commands to the outbox and
// puts the job back to `running`. A job that failed in discovery runs discovery again.
RetryOutcome RetryJob(pqxx::work& txn, const std::string& queue_prefix, const std::string& job_id);

}  // namespace chansum::orchestrator
