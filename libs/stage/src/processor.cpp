#include "chansum/stage/processor.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>

#include "chansum/common/logging.hpp"
#include "chansum/metrics/metrics.hpp"
#include "chansum/outbox/events.hpp"
#include "chansum/outbox/outbox.hpp"
#include "chansum/store/live.hpp"
#include "chansum/store/reliability.hpp"
#include "chansum/store/sync.hpp"

namespace chansum::stage {
namespace {

using protocol::Command;
using protocol::Stage;

constexpr std::chrono::milliseconds kCancelCheckInterval{1000};

std::string FormatDelay(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

using protocol::EventType;

std::int64_t CountFact(const nlohmann::json& facts, const char* key) {
  if (!facts.is_object() || !facts.contains(key)) return 0;
  const auto& v = facts.at(key);
  if (v.is_number_unsigned()) return static_cast<std::int64_t>(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::max<std::int64_t>(0, v.get<std::int64_t>());
  if (v.is_number_float()) return std::max<std::int64_t>(0, std::llround(v.get<double>()));
  return 0;
}

double NumberFact(const nlohmann::json& facts, const char* key) {
  if (!facts.is_object() || !facts.contains(key) || !facts.at(key).is_number()) return 0.0;
  return std::max(0.0, facts.at(key).get<double>());
}

std::string StringFact(const nlohmann::json& facts, const char* key) {
  if (!facts.is_object() || !facts.contains(key) || !facts.at(key).is_string() ||
      facts.at(key).get_ref<const std::string&>().empty()) {
    return "unknown";
  }
  return facts.at(key).get<std::string>();
}

}  // namespace

nlohmann::json StageEventData(Stage stage, const nlohmann::json& facts, std::int64_t duration_ms) {
  nlohmann::json data = {{"duration_ms", std::max<std::int64_t>(0, duration_ms)}};
  switch (stage) {
    case Stage::kDownload:
      data["bytes"] = CountFact(facts, "bytes");
      break;
    case Stage::kAudioExtraction:
      data["audio_seconds"] = NumberFact(facts, "audio_seconds");
      data["bytes"] = CountFact(facts, "bytes");
      break;
    case Stage::kTranscription:
      data["engine"] = StringFact(facts, "engine");
      data["segments"] = CountFact(facts, "segments");
      data["audio_seconds"] = NumberFact(facts, "audio_seconds");
      break;
    case Stage::kSummarization:
      data["engine"] = StringFact(facts, "engine");
      data["key_points"] = CountFact(facts, "key_points");
      data["summary_chars"] = CountFact(facts, "summary_chars");
      break;
    case Stage::kDiscovery:
      break;
  }
  return data;
}

Processor::Processor(const RunnerConfig& config, Handler handler, docstore::DocStore* docs,
                     std::function<bool()> should_stop)
    : config_(config),
      handler_(std::move(handler)),
      docs_(docs),
      should_stop_(std::move(should_stop)) {}

void Processor::EnqueueCommand(pqxx::work& txn, const Command& cmd, const std::string& queue,
                               std::optional<int> expiration_ms) {
  outbox::Message m;
  m.destination = outbox::Destination::kAmqp;
  m.routing_key = queue;
  m.message_id = cmd.message_id;
  m.expiration_ms = expiration_ms;
  m.payload = protocol::Serialize(cmd);
  outbox::Enqueue(txn, m);
}

void Processor::EnqueueRetry(pqxx::work& txn, const Command& cmd, int next_attempt,
                             std::chrono::milliseconds delay) {
  // Same command, next attempt, parked in "<queue>.retry" until its TTL sends it back.
  Command retry = protocol::NewCommand(cmd.stage, cmd.job_id, cmd.video_id, cmd.trace_id, cmd.data,
                                       next_attempt);
  EnqueueCommand(txn, retry, config_.Queue() + ".retry", static_cast<int>(delay.count()));
}

void Processor::EmitEvent(pqxx::work& txn, EventType type, const Command& cmd,
                          const store::Claim& claim, nlohmann::json data) {
  // The job's trace id (the command carries the same one unless a client sent its own).
  const std::string& trace = claim.job_trace_id.empty() ? cmd.trace_id : claim.job_trace_id;
  outbox::EnqueueEvent(txn, config_.queue_prefix,
                       protocol::NewEvent(type, cmd.job_id, cmd.video_id, trace, std::move(data)));
}

void Processor::EmitJobCompleted(pqxx::work& txn, const Command& cmd, const store::Claim& claim) {
  auto totals = store::GetJobTotals(txn, cmd.job_id);
  if (!totals || (totals->state != "completed" && totals->state != "completed_with_errors" &&
                  totals->state != "failed")) {
    return;  // not finished (or ended some other way): nothing to announce
  }
  EmitEvent(txn, EventType::kJobCompleted, cmd, claim,
            {{"state", totals->state},
             {"video_count", totals->video_count},
             {"done", totals->done},
             {"failed", totals->failed},
             {"duration_ms", totals->duration_ms}});
}

namespace {

metrics::Family<metrics::Histogram>& HandlerDurations() {
  static auto& family = metrics::Registry::Default().AddHistogram(
      "chansum_stage_handler_duration_seconds",
      "Time the stage handler (the work itself, no bookkeeping) took, by stage and result.",
      {"stage", "result"}, metrics::DurationBuckets());
  return family;
}

}  // namespace

ProcessOutcome Processor::DeadLetter(pqxx::connection& conn, const std::string& body,
                                     const std::string& reason) {
  pqxx::work txn(conn);
  outbox::Message m;
  m.destination = outbox::Destination::kAmqp;
  m.routing_key = config_.Queue() + ".dlq";
  m.message_id = "dlq-" + std::to_string(std::hash<std::string>{}(body));
  m.headers = {{"x-chansum-reason", reason}, {"x-chansum-stage", config_.service}};
  m.payload = body;
  outbox::Enqueue(txn, m);
  txn.commit();
  spdlog::error("malformed command dead-lettered to {}: {}", m.routing_key, reason);
  return {Disposition::kAck, "dead-lettered: " + reason, "dead_lettered"};
}

ProcessOutcome Processor::Process(pqxx::connection& conn, const std::string& body) {
  ScopedLogContext stage_ctx(std::map<std::string, std::string>{{"stage", config_.service}});
  std::optional<ScopedLogContext> message_ctx;
  ProcessOutcome outcome;
  try {
    auto cmd = protocol::ParseCommand(body);
    if (!cmd.ok()) {
      outcome = DeadLetter(conn, body, cmd.error().message);
    } else if (cmd->stage != config_.stage) {
      outcome = DeadLetter(conn, body,
                           "command type " + protocol::CommandType(cmd->stage) +
                               " does not belong on queue " + config_.Queue());
    } else {
      message_ctx.emplace(std::map<std::string, std::string>{{"job_id", cmd->job_id},
                                                             {"video_id", cmd->video_id},
                                                             {"message_id", cmd->message_id},
                                                             {"trace_id", cmd->trace_id}});
      outcome = Handle(conn, *cmd);
    }
  } catch (const pqxx::broken_connection& e) {
    outcome = {Disposition::kRequeue, std::string("database connection lost: ") + e.what(),
               "requeued"};
  } catch (const std::exception& e) {
    // A database error we did not expect: nothing was recorded, so let the broker redeliver
    // (the delivery limit sends a message that always fails this way to the DLQ).
    outcome = {Disposition::kRequeue, std::string("unexpected error: ") + e.what(), "requeued"};
  }
  // Logged here, inside the message's context, so the line carries job_id, video_id, ...
  if (outcome.disposition == Disposition::kAck) {
    spdlog::info("{}", outcome.summary);
  } else {
    spdlog::warn("{}; message requeued", outcome.summary);
  }
  return outcome;
}

ProcessOutcome Processor::Handle(pqxx::connection& conn, const Command& cmd) {
  store::Claim claim;
  {
    pqxx::work txn(conn);
    claim = cmd.stage == Stage::kDiscovery
                ? store::BeginDiscovery(txn, cmd.job_id)
                : store::BeginVideoStage(txn, cmd.job_id, cmd.video_id, cmd.stage,
                                         config_.worker_id, config_.lease_seconds);
    if (cmd.stage == Stage::kDiscovery && claim.outcome == store::Begin::kProceed) {
      // Discovery leases its job, so the sweeper can re-enqueue it if this worker dies.
      store::ClaimDiscoveryLease(txn, cmd.job_id, config_.worker_id, config_.lease_seconds);
    }
    txn.commit();
  }
  if (claim.outcome != store::Begin::kProceed) {
    if (claim.outcome == store::Begin::kJobClosed && cmd.stage != Stage::kDiscovery) {
      // A video of a cancelled job still pending (e.g. discovery raced the cancel): skipped.
      pqxx::work txn(conn);
      store::SkipVideoOfCancelledJob(txn, cmd.job_id, cmd.video_id);
      txn.commit();
    }
    return {Disposition::kAck, std::string("skipped: ") + store::ToString(claim.outcome),
            "skipped"};
  }
  // Renewed by the runner's lease thread while the handler runs.
  LeaseGuard lease(leases_, cmd.job_id, cmd.stage == Stage::kDiscovery ? "" : cmd.video_id);
  // Cancellation: checked on this worker's own connection (the handler runs in this thread and
  // holds no transaction), at most once a second however often the handler asks.
  bool cancelled = false;
  auto next_check = std::chrono::steady_clock::now();
  auto is_cancelled = [&]() {
    if (cancelled || std::chrono::steady_clock::now() < next_check) return cancelled;
    next_check = std::chrono::steady_clock::now() + kCancelCheckInterval;
    try {
      pqxx::work txn(conn);
      cancelled = store::IsJobCancelled(txn, cmd.job_id, /*lock=*/false);
      txn.commit();
    } catch (const std::exception& e) {
      spdlog::debug("cancel check failed: {}", e.what());  // the outcome's record will tell
    }
    return cancelled;
  };
  StageContext ctx{claim, config_.media_dir, docs_,
                   [&] { return (should_stop_ && should_stop_()) || is_cancelled(); },
                   is_cancelled};
  const auto started = std::chrono::steady_clock::now();
  auto result = handler_(cmd, ctx);
  const auto took = std::chrono::steady_clock::now() - started;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  HandlerDurations()
      .Labels({config_.service, result.ok() ? "ok" : "error"})
      .Observe(std::chrono::duration<double>(took).count());
  if (cancelled) {
    // The cancel marked the job and its unfinished videos; nothing of this work is recorded.
    return {Disposition::kAck, "stopped after " + std::to_string(ms) + " ms: job cancelled",
            "skipped"};
  }
  return cmd.stage == Stage::kDiscovery ? RecordDiscoveryOutcome(conn, cmd, claim, result, ms)
                                        : RecordVideoOutcome(conn, cmd, claim, result, ms);
}

ProcessOutcome Processor::RecordDiscoveryOutcome(pqxx::connection& conn, const Command& cmd,
                                                 const store::Claim& claim,
                                                 Result<StageOutput>& result, std::int64_t ms) {
  pqxx::work txn(conn);
  // The job row locked first: a cancel that committed meanwhile wins, one that comes later waits
  // and then skips the videos recorded here.
  if (store::IsJobCancelled(txn, cmd.job_id, /*lock=*/true)) {
    txn.abort();
    return {Disposition::kAck, "skipped: job cancelled during discovery", "skipped"};
  }
  std::string summary;
  const char* kind = "done";
  if (result.ok()) {
    store::ReleaseDiscoveryLease(txn, cmd.job_id);
    auto inserted = store::RecordDiscovery(txn, cmd.job_id, result->discovered);
    // Position in the listing as RecordDiscovery numbered it (first occurrence of an id).
    std::map<std::string, int> positions;
    for (std::size_t i = 0; i < result->discovered.size(); ++i) {
      positions.emplace(result->discovered[i].video_id, static_cast<int>(i));
    }
    for (const auto& v : inserted) {
      Command for_video = cmd;
      for_video.video_id = v.video_id;
      EmitEvent(txn, EventType::kVideoDiscovered, for_video, claim,
                {{"title", v.title},
                 {"url", v.url},
                 {"duration_s", v.duration_s ? nlohmann::json(*v.duration_s) : nullptr},
                 {"published_at", v.published_at.empty() ? nlohmann::json(nullptr)
                                                         : nlohmann::json(v.published_at)},
                 {"position", positions[v.video_id]}});
      // Incremental sync: results stored by an earlier job are reused, no stage runs.
      if (!v.reuse_reason.empty() &&
          store::MarkVideoReused(txn, cmd.job_id, v.video_id, v.reuse_reason)) {
        continue;
      }
      nlohmann::json data = {{"url", v.url}};
      if (!v.title.empty()) data["title"] = v.title;
      auto next = protocol::NewCommand(Stage::kDownload, cmd.job_id, v.video_id, cmd.trace_id,
                                       std::move(data));
      EnqueueCommand(txn, next, protocol::QueueName(config_.queue_prefix, Stage::kDownload),
                     std::nullopt);
    }
    if (store::FinishJobIfComplete(txn, cmd.job_id)) {  // a channel with no videos is done
      EmitJobCompleted(txn, cmd, claim);
    }
    summary = "discovered " + std::to_string(result->discovered.size()) + " videos in " +
              std::to_string(ms) + " ms";
  } else if (result.error().transient() && cmd.attempt < config_.max_attempts) {
    const auto delay = RetryDelay(config_, cmd.attempt);
    store::ReleaseDiscoveryLease(txn, cmd.job_id);  // the retry command carries it on
    EnqueueRetry(txn, cmd, cmd.attempt + 1, delay);
    kind = "retried";
    summary = "retry " + std::to_string(cmd.attempt + 1) + "/" +
              std::to_string(config_.max_attempts) + " in " + FormatDelay(delay) + ": " +
              result.error().ToString();
  } else {
    kind = "failed";
    store::FailJob(txn, cmd.job_id, result.error());
    EmitJobCompleted(txn, cmd, claim);  // state "failed" (we hold the claim: it was running)
    summary = "job failed: " + result.error().ToString();
  }
  txn.commit();
  return {Disposition::kAck, summary, kind};
}

ProcessOutcome Processor::RecordVideoOutcome(pqxx::connection& conn, const Command& cmd,
                                             const store::Claim& claim, Result<StageOutput>& result,
                                             std::int64_t ms) {
  pqxx::work txn(conn);
  std::string summary;
  const char* kind = "done";
  // The sweeper may have given this work to another worker after our lease expired (we stalled):
  // then the other worker owns the outcome and ours is dropped.
  // (A cancel that committed meanwhile also took the lease: that work counts as skipped.)
  if (!store::HoldsVideoLease(txn, cmd.job_id, cmd.video_id, cmd.stage, config_.worker_id)) {
    const bool cancelled = store::IsJobCancelled(txn, cmd.job_id, /*lock=*/false);
    txn.abort();
    if (cancelled) return {Disposition::kAck, "skipped: job cancelled", "skipped"};
    return {Disposition::kAck, "duplicate: this worker no longer holds the lease of this stage",
            "duplicate"};
  }
  if (result.ok()) {
    store::StageDone done;
    done.next_stage = result->next_stage ? result->next_stage : protocol::NextStage(cmd.stage);
    done.media_path = result->media_path;
    done.audio_path = result->audio_path;
    if (!store::CompleteVideoStage(txn, cmd.job_id, cmd.video_id, cmd.stage, done)) {
      txn.abort();
      return {Disposition::kAck, "duplicate: another delivery already finished this stage",
              "duplicate"};
    }
    if (result->next_stage) {  // stages jumped over (e.g. captions make ASR unnecessary)
      std::vector<Stage> skipped;
      for (auto s = protocol::NextStage(cmd.stage); s && s != result->next_stage;
           s = protocol::NextStage(*s)) {
        skipped.push_back(*s);
      }
      store::RecordSkippedStages(txn, cmd.job_id, cmd.video_id, skipped, result->skip_reason);
    }
    if (auto type = protocol::StageCompletedEvent(cmd.stage)) {
      EmitEvent(txn, *type, cmd, claim, StageEventData(cmd.stage, result->event_data, ms));
    }
    if (done.next_stage) {
      auto next = protocol::NewCommand(*done.next_stage, cmd.job_id, cmd.video_id, cmd.trace_id,
                                       result->next_data);
      EnqueueCommand(txn, next, protocol::QueueName(config_.queue_prefix, *done.next_stage),
                     std::nullopt);
      summary = "done in " + std::to_string(ms) +
                " ms, next: " + std::string(protocol::StageName(*done.next_stage));
    } else {
      auto job_state = store::FinishJobIfComplete(txn, cmd.job_id);
      if (job_state) EmitJobCompleted(txn, cmd, claim);
      summary = "video done in " + std::to_string(ms) + " ms" +
                (job_state ? ", job " + *job_state : std::string());
    }
  } else if (result.error().transient() && claim.attempts < config_.max_attempts) {
    const auto delay = RetryDelay(config_, claim.attempts);
    if (!store::RetryVideoStage(txn, cmd.job_id, cmd.video_id, cmd.stage, result.error())) {
      txn.abort();
      return {Disposition::kAck, "duplicate: another delivery already settled this stage",
              "duplicate"};
    }
    EnqueueRetry(txn, cmd, claim.attempts + 1, delay);
    kind = "retried";
    summary = "retry " + std::to_string(claim.attempts + 1) + "/" +
              std::to_string(config_.max_attempts) + " in " + FormatDelay(delay) + ": " +
              result.error().ToString();
  } else {
    kind = "failed";
    const auto& error = result.error();
    if (store::FailVideo(txn, cmd.job_id, cmd.video_id, cmd.stage, error)) {
      EmitEvent(txn, EventType::kVideoFailed, cmd, claim,
                {{"stage", protocol::StageName(cmd.stage)},
                 {"error_class", ToString(error.cls)},
                 {"error_code", error.code.empty() ? std::string("error") : error.code},
                 {"error_message", error.message},
                 {"attempts", std::max(1, claim.attempts)}});
    }
    auto job_state = store::FinishJobIfComplete(txn, cmd.job_id);
    if (job_state) EmitJobCompleted(txn, cmd, claim);
    summary = "video failed: " + result.error().ToString() +
              (job_state ? ", job " + *job_state : std::string());
  }
  txn.commit();
  return {Disposition::kAck, summary, kind};
}

}  // namespace chansum::stage
