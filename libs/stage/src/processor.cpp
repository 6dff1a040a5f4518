#include "chansum/stage/processor.hpp"

#include <atomic>

#include <list>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>

#include "chansum/common/ids.hpp"
#include "chansum/common/logging.hpp"
#include "chansum/metrics/metrics.hpp"
#include "chansum/store/live.hpp"

namespace chansum::stage {
namespace {

constexpr std::chrono::milliseconds kCancelCheckInterval{1000};

metrics::Family<metrics::Histogram>& HandlerDurations() {
  static auto& family = metrics::Registry::Default().AddHistogram(
      "chansum_stage_handler_duration_seconds",
      "Time the stage handler (the work itself, no bookkeeping) took, by stage and result.",
      {"stage", "result"}, metrics::DurationBuckets());
  return family;
}

ProcessOutcome Acked(const pipeline::VideoWork& w) {
  return {Disposition::kAck, w.summary, w.kind};
}

}  // namespace

pipeline::RetryPolicy Policy(const RunnerConfig& config) {
  return {config.max_attempts, config.retry_base_delay, config.retry_max_delay};
}

namespace {
std::atomic<int> next_processor{0};
}  // namespace

std::chrono::milliseconds RetryDelay(const RunnerConfig& config, int attempt) {
  return pipeline::RetryDelay(Policy(config), attempt);
}

Processor::Processor(const RunnerConfig& config, Handler handler, docstore::DocStore* docs,
                     std::function<bool()> should_stop)
    : config_(config),
      owner_(config.worker_id + "/" + std::to_string(next_processor.fetch_add(1))),
      policy_(Policy(config)),
      handler_(std::move(handler)),
      docs_(docs),
      should_stop_(std::move(should_stop)) {}

ProcessOutcome Processor::Process(pqxx::connection& conn, const std::string& body) {
  return ProcessBatch(conn, {body}).front();
}

std::vector<ProcessOutcome> Processor::ProcessBatch(pqxx::connection& conn,
                                                    const std::vector<std::string>& bodies) {
  ScopedLogContext stage_ctx(std::map<std::string, std::string>{{"stage", config_.service}});
  std::vector<ProcessOutcome> outcomes(bodies.size());
  std::vector<std::pair<std::size_t, std::string>> malformed;  // (index, reason)
  std::vector<pipeline::VideoWork> batch;
  std::vector<std::size_t> index;  // batch[i] is bodies[index[i]]
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    auto cmd = protocol::ParseCommand(bodies[i]);
    if (!cmd.ok()) {
      malformed.emplace_back(i, cmd.error().message);
    } else if (cmd->stage != config_.stage) {
      malformed.emplace_back(i, "command type " + protocol::CommandType(cmd->stage) +
                                    " does not belong on queue " + config_.Queue());
    } else if (!IsUuid(cmd->job_id)) {
      malformed.emplace_back(i, "command.job_id must be a UUID");
    } else {
      batch.emplace_back();
      batch.back().cmd = std::move(*cmd);
      index.push_back(i);
    }
  }
  std::string failure;  // why the deliveries not yet settled go back to the queue
  try {
    if (!malformed.empty()) DeadLetter(conn, malformed, bodies, outcomes);
    if (config_.job_level) {
      for (std::size_t k = 0; k < batch.size(); ++k) {
        HandleDiscovery(conn, batch[k]);
        outcomes[index[k]] = Acked(batch[k]);
      }
    } else if (!batch.empty()) {
      HandleVideos(conn, batch);
      for (std::size_t k = 0; k < batch.size(); ++k) outcomes[index[k]] = Acked(batch[k]);
    }
  } catch (const pqxx::broken_connection& e) {
    failure = std::string("database connection lost: ") + e.what();
  } catch (const std::exception& e) {
    // A database error we did not expect: nothing of the batch was recorded, so let the broker
    // redeliver (the delivery limit sends a message that always fails this way to the DLQ).
    failure = std::string("unexpected error: ") + e.what();
  }
  for (auto& o : outcomes) {
    if (o.disposition == Disposition::kRequeue && o.summary.empty()) o.summary = failure;
  }
  // Logged inside each message's context, so the line carries job_id, video_id, ...
  for (std::size_t k = 0; k < batch.size(); ++k) {
    const auto& cmd = batch[k].cmd;
    ScopedLogContext message_ctx(std::map<std::string, std::string>{{"job_id", cmd.job_id},
                                                                    {"video_id", cmd.video_id},
                                                                    {"message_id", cmd.message_id},
                                                                    {"trace_id", cmd.trace_id}});
    const auto& o = outcomes[index[k]];
    if (o.disposition == Disposition::kAck) {
      spdlog::info("{}", o.summary);
    } else {
      spdlog::warn("{}; message requeued", o.summary);
    }
  }
  return outcomes;
}

void Processor::DeadLetter(pqxx::connection& conn,
                           const std::vector<std::pair<std::size_t, std::string>>& malformed,
                           const std::vector<std::string>& bodies,
                           std::vector<ProcessOutcome>& outcomes) {
  pipeline::Effects effects(config_.queue_prefix);
  for (const auto& [i, reason] : malformed) {
    outbox::Message m;
    m.destination = outbox::Destination::kAmqp;
    m.routing_key = config_.Queue() + ".dlq";
    m.message_id = "dlq-" + std::to_string(std::hash<std::string>{}(bodies[i]));
    m.headers = {{"x-chansum-reason", reason}, {"x-chansum-stage", config_.service}};
    m.payload = bodies[i];
    effects.Raw(std::move(m));
  }
  pqxx::work txn(conn);
  effects.Flush(txn);
  txn.commit();
  for (const auto& [i, reason] : malformed) {
    spdlog::error("malformed command dead-lettered to {}: {}", config_.Queue() + ".dlq", reason);
    outcomes[i] = {Disposition::kAck, "dead-lettered: " + reason, "dead_lettered"};
  }
}

void Processor::RunHandler(pqxx::connection& conn, pipeline::VideoWork& w, bool in_transaction) {
  // Cancellation: checked on this worker's own connection (the handler runs in this thread and
  // holds no transaction), at most once a second however often the handler asks. A short handler
  // runs inside the batch's transaction and is never cancelled half way.
  bool cancelled = false;
  auto next_check = std::chrono::steady_clock::now();
  auto is_cancelled = [&]() {
    if (in_transaction || cancelled || std::chrono::steady_clock::now() < next_check) {
      return cancelled;
    }
    next_check = std::chrono::steady_clock::now() + kCancelCheckInterval;
    try {
      pqxx::work txn(conn);
      cancelled = store::IsJobCancelled(txn, w.cmd.job_id, /*lock=*/false);
      txn.commit();
    } catch (const std::exception& e) {
      spdlog::debug("cancel check failed: {}", e.what());  // the outcome's record will tell
    }
    return cancelled;
  };
  StageContext ctx{w.claim,      config_.media_dir,
                   docs_,        [&] { return (should_stop_ && should_stop_()) || is_cancelled(); },
                   is_cancelled, tokens_};
  const auto started = std::chrono::steady_clock::now();
  {
    ScopedLogContext message_ctx(
        std::map<std::string, std::string>{{"job_id", w.cmd.job_id},
                                           {"video_id", w.cmd.video_id},
                                           {"message_id", w.cmd.message_id},
                                           {"trace_id", w.cmd.trace_id}});
    // One line before and one after every handler run, in the message's context (stage, job_id,
    // video_id): the record of work actually done, so work done twice (a redelivery or a
    // duplicate that got past the claim) can be counted per video and stage from the logs. The
    // first line is written (and flushed: info flushes) before the work starts, so a kill -9
    // during the run cannot lose it.
    spdlog::info("{}", kHandlerRunStarted);
    w.result = handler_(w.cmd, ctx);
  }
  const auto took = std::chrono::steady_clock::now() - started;
  w.ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  HandlerDurations()
      .Labels({config_.service, w.result->ok() ? "ok" : "error"})
      .Observe(std::chrono::duration<double>(took).count());
  {
    ScopedLogContext message_ctx(
        std::map<std::string, std::string>{{"job_id", w.cmd.job_id},
                                           {"video_id", w.cmd.video_id},
                                           {"message_id", w.cmd.message_id},
                                           {"trace_id", w.cmd.trace_id}});
    const std::string result = cancelled        ? "cancelled"
                               : w.result->ok() ? "ok"
                                                : ToString(w.result->error().cls);
    spdlog::info("{}{} in {} ms", kHandlerRunFinished, result, w.ms);
  }
  if (cancelled) {
    // The cancel marked the job and its unfinished videos; nothing of this work is recorded.
    w.result.reset();
    w.kind = "skipped";
    w.summary = "stopped after " + std::to_string(w.ms) + " ms: job cancelled";
  }
}

void Processor::HandleVideos(pqxx::connection& conn, std::vector<pipeline::VideoWork>& batch) {
  const bool short_work = config_.short_handler;
  std::optional<pqxx::work> txn;
  txn.emplace(conn);
  pipeline::ClaimVideos(*txn, config_.stage, batch, owner_, config_.lease_seconds,
                        /*in_place=*/short_work);
  // Long work: the claims (with their leases) commit before the handlers run, so the sweeper
  // can hand the work to another worker if this one dies; the lease thread renews them meanwhile.
  std::list<LeaseGuard> leases;
  if (!short_work) {
    txn->commit();
    txn.reset();
    for (const auto& w : batch) {
      if (w.claim.outcome == store::Begin::kProceed) {
        leases.emplace_back(leases_, w.cmd.job_id, w.cmd.video_id);
      }
    }
  }
  for (auto& w : batch) {
    if (w.claim.outcome == store::Begin::kProceed) RunHandler(conn, w, short_work);
  }
  pipeline::Effects effects(config_.queue_prefix);
  if (!short_work) {
    txn.emplace(conn);
    pipeline::KeepHeldVideos(*txn, config_.stage, batch, owner_);
  }
  pipeline::RecordVideoOutcomes(*txn, effects, policy_, config_.stage, batch,
                                /*in_place=*/short_work);
  effects.Flush(*txn);
  txn->commit();
}

void Processor::HandleDiscovery(pqxx::connection& conn, pipeline::VideoWork& w) {
  {
    pqxx::work txn(conn);
    w.claim = pipeline::ClaimDiscovery(txn, w.cmd.job_id, owner_, config_.lease_seconds);
    txn.commit();
  }
  if (w.claim.outcome != store::Begin::kProceed) {
    w.kind = "skipped";
    w.summary = std::string("skipped: ") + store::ToString(w.claim.outcome);
    return;
  }
  {
    LeaseGuard lease(leases_, w.cmd.job_id, "");  // renewed while the listing runs
    RunHandler(conn, w, /*in_transaction=*/false);
  }
  if (!w.result) return;  // cancelled
  pqxx::work txn(conn);
  pipeline::Effects effects(config_.queue_prefix);
  if (!pipeline::RecordDiscovery(txn, effects, policy_, owner_, w)) {
    txn.abort();
    return;
  }
  effects.Flush(txn);
  txn.commit();
}

}  // namespace chansum::stage
