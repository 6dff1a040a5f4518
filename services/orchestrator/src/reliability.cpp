#include "reliability.hpp"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "chansum/amqp/connection.hpp"
#include "chansum/common/ids.hpp"
#include "chansum/common/signals.hpp"
#include "chansum/metrics/metrics.hpp"
#include "chansum/outbox/topology.hpp"
#include "chansum/pipeline/pipeline.hpp"
#include "chansum/protocol/command.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/service/backoff.hpp"
#include "chansum/store/reliability.hpp"
#include "chansum/store/store.hpp"

namespace chansum::orchestrator {
namespace {

using protocol::Stage;

std::string JobTrace(pqxx::work& txn, const std::string& job_id) {
  auto r = txn.exec_params("SELECT trace_id FROM jobs WHERE id = $1::uuid", job_id);
  return r.empty() ? std::string() : r[0][0].as<std::string>();
}

bool SleepUnless(const std::atomic<bool>& stop, std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stop.load()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !stop.load();
}

std::string Of(int attempts, int max_attempts) {
  return std::to_string(attempts) + "/" + std::to_string(max_attempts);
}

// The video's stage command written again as try `attempt`, logged as `who`'s re-enqueue.
void EnqueueVideoAgain(pipeline::Effects& effects, const char* who, const store::VideoCommandRow& v,
                       const nlohmann::json& data, int attempt, const std::string& reason) {
  effects.Command(protocol::NewCommand(v.stage, v.job_id, v.video_id, v.trace_id, data,
                                       std::min(1000, attempt)));
  spdlog::warn("{}: re-enqueued {} of video {} (job {}): {}", who, protocol::StageName(v.stage),
               v.video_id, v.job_id, reason);
}

void FailVideoRow(pqxx::work& txn, pipeline::Effects& effects, const char* who,
                  const store::VideoCommandRow& v, const Error& error) {
  pipeline::FailVideo(txn, effects, v.job_id, v.video_id, v.trace_id, v.stage, error, v.attempts);
  spdlog::warn("{}: video {} of job {} failed: {}", who, v.video_id, v.job_id, error.message);
}

// chansum_sweeper_actions_total: what the sweeper (cause lease_expired) and the watchdog (cause
// stuck) re-enqueued or failed.
void CountActions(const char* cause, const SweepResult& r) {
  static auto& family = metrics::Registry::Default().AddCounter(
      "chansum_sweeper_actions_total",
      "Work the orchestrator re-enqueued or failed: cause lease_expired (its worker stopped "
      "renewing the lease) or stuck (no progress for STUCK_AFTER: its command was lost)",
      {"cause", "action"});
  const std::pair<const char*, int> actions[] = {{"video_requeued", r.requeued},
                                                 {"video_failed", r.failed},
                                                 {"discovery_requeued", r.discovery_requeued},
                                                 {"discovery_failed", r.discovery_failed}};
  for (const auto& [action, n] : actions) {
    if (n > 0) family.Labels({cause, action}).Inc(n);
  }
}

}  // namespace

std::chrono::milliseconds ReliabilityConfig::WatchInterval() const {
  return std::clamp(stuck_after / 10, sweep_interval,
                    std::max(sweep_interval, std::chrono::milliseconds(60000)));
}

ReliabilityConfig ReliabilityConfig::FromEnv(ConfigReader& env) {
  ReliabilityConfig c;
  c.queue_prefix = env.String("QUEUE_PREFIX", "");
  // The same number of tries the stages allow (a lease expiry counts as one).
  c.max_attempts = pipeline::RetryPolicyFromEnv(env).max_attempts;
  c.sweep_interval = env.Duration("SWEEP_INTERVAL", std::chrono::seconds(5));
  if (c.sweep_interval < std::chrono::milliseconds(100)) {
    c.sweep_interval = std::chrono::milliseconds(100);
  }
  c.stuck_after = env.Duration("STUCK_AFTER", std::chrono::minutes(30));
  if (c.stuck_after < std::chrono::seconds(1)) c.stuck_after = std::chrono::seconds(1);
  return c;
}

SweepResult SweepOnce(pqxx::connection& conn, const ReliabilityConfig& config) {
  SweepResult result;
  pqxx::work txn(conn);
  pipeline::Effects effects(config.queue_prefix);
  for (const auto& v : store::LockExpiredVideoLeases(txn, config.sweep_batch)) {
    const std::string attempt_text =
        std::to_string(v.attempts) + "/" + std::to_string(config.max_attempts);
    const std::string reason =
        "lease expired: worker " + (v.lease_owner.empty() ? std::string("?") : v.lease_owner) +
        " stopped renewing it during " + std::string(protocol::StageName(v.stage)) + " (attempt " +
        attempt_text + ")";
    auto data = store::StageCommandData(v.stage, v.url, v.title, v.media_path, v.audio_path);
    if (v.attempts >= config.max_attempts || !data) {
      const Error error =
          data ? Error::Transient("lease_expired", reason)
               : Error::Permanent("lease_expired",
                                  reason + "; the row lacks the data to run the stage again");
      FailVideoRow(txn, effects, "sweeper", v, error);
      ++result.failed;
      continue;
    }
    store::RequeueExpiredVideo(txn, v, reason);
    EnqueueVideoAgain(effects, "sweeper", v, *data, v.attempts + 1, reason);
    ++result.requeued;
  }
  for (const auto& d : store::LockExpiredDiscoveryLeases(txn, config.sweep_batch)) {
    const std::string reason =
        "lease expired: worker " + (d.lease_owner.empty() ? std::string("?") : d.lease_owner) +
        " stopped renewing it during discovery (attempt " + std::to_string(d.attempts) + "/" +
        std::to_string(config.max_attempts) + ")";
    store::ClearDiscoveryLease(txn, d.job_id);
    if (d.attempts >= config.max_attempts) {
      pipeline::FailDiscoveryJob(txn, effects, d.job_id, d.trace_id,
                                 Error::Transient("lease_expired", reason));
      spdlog::warn("sweeper: job {} failed in discovery: {}", d.job_id, reason);
      ++result.discovery_failed;
      continue;
    }
    effects.Command(protocol::NewCommand(Stage::kDiscovery, d.job_id, "", d.trace_id,
                                         store::DiscoveryCommandData(d.channel_url, d.options),
                                         std::min(1000, d.attempts + 1)));
    spdlog::warn("sweeper: re-enqueued discovery of job {}: {}", d.job_id, reason);
    ++result.discovery_requeued;
  }
  effects.Flush(txn);
  txn.commit();
  return result;
}

SweepResult WatchOnce(pqxx::connection& conn, const ReliabilityConfig& config) {
  // A command re-enqueued here whose original still sits in a queue after all (a stage whose
  // workers were all gone for STUCK_AFTER) is a harmless duplicate: whichever copy is claimed
  // first runs the stage, the other finds the stage done (or leased by the first) and is
  // dropped by the claim (store::ClaimVideoStages, store::BeginDiscovery).
  SweepResult result;
  const int stuck_s = static_cast<int>(std::max<long long>(
      1, std::chrono::duration_cast<std::chrono::seconds>(config.stuck_after).count()));
  pqxx::work txn(conn);
  pipeline::Effects effects(config.queue_prefix);
  for (const auto& v : store::LockStuckPendingVideos(txn, stuck_s, config.sweep_batch)) {
    const std::string reason = "stuck: no progress for " + std::to_string(v.idle_s) +
                               "s while pending at " + std::string(protocol::StageName(v.stage)) +
                               " (its command was lost: a purged queue or a lost retry)";
    auto data = store::StageCommandData(v.stage, v.url, v.title, v.media_path, v.audio_path);
    if (v.attempts >= config.max_attempts || !data) {
      const Error error =
          data ? Error::Transient("stuck", reason + "; attempts " +
                                               Of(v.attempts, config.max_attempts) + " used")
               : Error::Permanent("stuck",
                                  reason + "; the row lacks the data to run the stage again");
      FailVideoRow(txn, effects, "watchdog", v, error);
      ++result.failed;
      continue;
    }
    // The re-enqueue counts as an attempt: a command lost again and again ends the video.
    const std::string requeued =
        reason + "; re-enqueued (attempt " + Of(v.attempts + 1, config.max_attempts) + ")";
    store::TouchStuckVideo(txn, v, requeued);
    EnqueueVideoAgain(effects, "watchdog", v, *data, v.attempts + 2, requeued);
    ++result.requeued;
  }
  for (const auto& d : store::LockStuckDiscoveries(txn, stuck_s, config.sweep_batch)) {
    const std::string reason =
        "stuck: no progress for " + std::to_string(d.idle_s) + "s while " + d.state +
        " in discovery without a live lease (its command was lost: a purged queue or a lost "
        "retry)";
    if (d.attempts >= config.max_attempts) {
      const std::string why =
          reason + "; attempts " + Of(d.attempts, config.max_attempts) + " used";
      pipeline::FailDiscoveryJob(txn, effects, d.job_id, d.trace_id,
                                 Error::Transient("stuck", why));
      spdlog::warn("watchdog: job {} failed in discovery: {}", d.job_id, why);
      ++result.discovery_failed;
      continue;
    }
    store::TouchStuckDiscovery(txn, d.job_id);
    effects.Command(protocol::NewCommand(Stage::kDiscovery, d.job_id, "", d.trace_id,
                                         store::DiscoveryCommandData(d.channel_url, d.options),
                                         std::min(1000, d.attempts + 2)));
    spdlog::warn("watchdog: re-enqueued discovery of job {}: {}; attempt {}", d.job_id, reason,
                 Of(d.attempts + 1, config.max_attempts));
    ++result.discovery_requeued;
  }
  effects.Flush(txn);
  txn.commit();
  return result;
}

void SweeperLoop(const pg::PgConfig& pg_config, const ReliabilityConfig& config,
                 const std::atomic<bool>& stop) {
  std::unique_ptr<pqxx::connection> conn;
  service::Backoff backoff(std::chrono::milliseconds(500), std::chrono::seconds(10),
                           [&stop] { return stop.load(); });
  auto next_watch = std::chrono::steady_clock::now();
  while (!stop.load()) {
    try {
      if (!conn) {
        auto c = pg::Connect(pg_config);
        if (!c.ok()) throw std::runtime_error(c.error().message);
        conn = std::move(*c);
      }
      // A full batch means there may be more: sweep again at once.
      for (bool more = true; more && !stop.load();) {
        const auto swept = SweepOnce(*conn, config);
        CountActions("lease_expired", swept);
        more = swept.total() >= config.sweep_batch;
      }
      if (std::chrono::steady_clock::now() >= next_watch) {
        for (bool more = true; more && !stop.load();) {
          const auto watched = WatchOnce(*conn, config);
          CountActions("stuck", watched);
          more = watched.total() >= config.sweep_batch;
        }
        next_watch = std::chrono::steady_clock::now() + config.WatchInterval();
      }
      backoff.Reset();
      if (!SleepUnless(stop, config.sweep_interval)) break;
    } catch (const std::exception& e) {
      spdlog::warn("sweeper: {} (retrying)", e.what());
      conn.reset();
      if (!backoff.Wait()) break;
    }
  }
}

DeadLetterOutcome RecordDeadLetter(pqxx::connection& conn, const ReliabilityConfig& config,
                                   const std::string& queue, const amqp::Delivery& delivery) {
  DeadLetterOutcome out;
  store::DeadLetter letter;
  letter.queue = queue;
  letter.body = delivery.body;
  letter.message_id = delivery.message_id;
  for (const auto& [key, value] : delivery.headers) {
    if (const auto* s = std::get_if<std::string>(&value)) {
      letter.headers[key] = *s;
    } else {
      letter.headers[key] = std::get<std::int64_t>(value);
    }
  }
  // The stage of the queue: "<prefix><stage>.dlq".
  std::optional<Stage> queue_stage;
  for (Stage s : protocol::kAllStages) {
    if (protocol::QueueName(config.queue_prefix, s) + ".dlq" == queue) queue_stage = s;
  }
  if (queue_stage) letter.stage = std::string(protocol::StageName(*queue_stage));
  // Why: our own reason for a malformed message, else what the broker said (delivery_limit, ...).
  if (auto r = amqp::HeaderString(delivery.headers, "x-chansum-reason")) {
    letter.reason = "malformed: " + *r;
  } else if (auto b = amqp::HeaderString(delivery.headers, "x-first-death-reason")) {
    letter.reason = *b;
    if (auto q = amqp::HeaderString(delivery.headers, "x-first-death-queue")) {
      letter.reason += " (queue " + *q + ")";
    }
    if (*b == "delivery_limit") {
      letter.reason += ": delivered more often than the queue's x-delivery-limit";
    }
  } else {
    letter.reason = "dead-lettered (no reason given)";
  }
  // Ids: trusted (used to fail a video) only when the body is a valid command of this queue.
  auto cmd = protocol::ParseCommand(delivery.body);
  const bool valid = cmd.ok() && (!queue_stage || cmd->stage == *queue_stage);
  if (cmd.ok()) {
    letter.job_id = IsUuid(cmd->job_id) ? cmd->job_id : "";
    letter.video_id = cmd->video_id;
  } else {
    auto j = nlohmann::json::parse(delivery.body, nullptr, false);
    if (j.is_object()) {
      if (j.contains("job_id") && j["job_id"].is_string() &&
          IsUuid(j["job_id"].get<std::string>())) {
        letter.job_id = j["job_id"].get<std::string>();
      }
      if (j.contains("video_id") && j["video_id"].is_string()) {
        letter.video_id = j["video_id"].get<std::string>().substr(0, 256);
      }
    }
  }
  if (letter.message_id.empty() && valid) letter.message_id = cmd->message_id;

  pqxx::work txn(conn);
  pipeline::Effects effects(config.queue_prefix);
  out.recorded = store::InsertDeadLetter(txn, letter);
  if (out.recorded && valid && !letter.job_id.empty()) {
    const std::string why = "dead-lettered from " + queue + ": " + letter.reason;
    const std::string trace = JobTrace(txn, letter.job_id);
    if (cmd->stage == Stage::kDiscovery) {
      if (store::FailDiscoveryDeadLettered(txn, letter.job_id, why)) {
        out.job_failed = true;
        out.job_state = "failed";
        pipeline::EmitJobCompleted(txn, effects, letter.job_id, trace);
      }
    } else if (!letter.video_id.empty()) {
      if (auto attempts =
              store::FailVideoDeadLettered(txn, letter.job_id, letter.video_id, cmd->stage, why)) {
        out.video_failed = true;
        effects.VideoFailed(letter.job_id, letter.video_id, trace, cmd->stage,
                            Error::Permanent("dead_lettered", why), *attempts);
        const auto ended = pipeline::FinishJobs(txn, effects, {{letter.job_id, trace}});
        if (!ended.empty()) out.job_state = ended.begin()->second;
      }
    }
  }
  effects.Flush(txn);
  txn.commit();
  return out;
}

void DeadLetterLoop(const amqp::AmqpConfig& amqp_config, const pg::PgConfig& pg_config,
                    const ReliabilityConfig& config, int delivery_limit,
                    const std::atomic<bool>& stop, std::atomic<bool>& ok) {
  std::vector<std::pair<std::string, std::unique_ptr<amqp::Consumer>>> consumers;
  for (Stage s : protocol::kAllStages) {
    consumers.emplace_back(protocol::QueueName(config.queue_prefix, s) + ".dlq", nullptr);
  }
  std::unique_ptr<pqxx::connection> conn;
  service::Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(15),
                           [&stop] { return stop.load(); });
  auto fail_wait = [&] { return backoff.Wait(); };
  while (!stop.load()) {
    // (Re)open what is missing: declare the queues first (idempotent), then one consumer each.
    bool all_open = true;
    for (auto& [queue, consumer] : consumers) all_open = all_open && consumer && consumer->ok();
    if (!all_open) {
      ok = false;
      auto topo = amqp::Connection::Open(amqp_config, "orchestrator-dlq-topology");
      Status st = topo.ok()
                      ? outbox::DeclarePipelineQueues(**topo, config.queue_prefix, delivery_limit)
                      : Status(topo.error());
      for (auto& [queue, consumer] : consumers) {
        if (!st.ok()) break;
        if (consumer && consumer->ok()) continue;
        amqp::ConsumerOptions options;
        options.queue = queue;
        options.prefetch = 10;
        auto c = amqp::Consumer::Open(amqp_config, "orchestrator-dlq", options);
        if (!c.ok()) {
          st = Status(c.error());
          break;
        }
        consumer = std::move(*c);
      }
      if (!st.ok()) {
        spdlog::warn("dead-letter consumer: RabbitMQ unavailable ({}), retrying",
                     st.error().message);
        for (auto& [queue, consumer] : consumers) consumer.reset();
        if (!fail_wait()) break;
        continue;
      }
      ok = true;
      backoff.Reset();
      spdlog::info("dead-letter consumer: reading the {} .dlq queues", consumers.size());
    }
    for (auto& [queue, consumer] : consumers) {
      if (stop.load() || !consumer) break;
      auto delivery = consumer->Next(std::chrono::milliseconds(20));
      if (!delivery.ok()) {
        spdlog::warn("dead-letter consumer of {} lost: {}", queue, delivery.error().message);
        consumer.reset();
        ok = false;
        continue;
      }
      if (!delivery->has_value()) continue;
      const auto& d = **delivery;
      bool recorded = false;
      try {
        if (!conn || !conn->is_open()) {
          auto c = pg::Connect(pg_config);
          if (!c.ok()) throw std::runtime_error(c.error().message);
          conn = std::move(*c);
        }
        auto outcome = RecordDeadLetter(*conn, config, queue, d);
        recorded = true;
        if (outcome.recorded) {
          spdlog::warn("dead letter recorded from {} (message {}){}{}", queue, d.message_id,
                       outcome.video_failed ? ": video failed" : "",
                       outcome.job_failed ? ": job failed in discovery" : "");
        }
      } catch (const std::exception& e) {
        spdlog::warn("dead-letter consumer: cannot record a message from {} ({}); requeued", queue,
                     e.what());
        conn.reset();
      }
      Status st = recorded ? consumer->Ack(d.delivery_tag)
                           : consumer->Nack(d.delivery_tag, /*requeue=*/true);
      if (!st.ok()) {
        consumer.reset();
        ok = false;
      }
      if (!recorded && !SleepUnless(stop, std::chrono::milliseconds(500))) break;
    }
  }
  ok = false;
}

RetryOutcome RetryJob(pqxx::work& txn, const std::string& queue_prefix, const std::string& job_id) {
  RetryOutcome out;
  pipeline::Effects effects(queue_prefix);
  auto plan = store::PlanJobRetry(txn, job_id);
  out.found = plan.found;
  out.state = plan.state;
  if (!plan.found) return out;
  if (plan.state == "cancelled") {
    out.conflict = "job is cancelled";
    return out;
  }
  if (plan.discovery) {
    store::ReopenJobForRetry(txn, job_id, /*discovery=*/true);
    effects.Command(
        protocol::NewCommand(Stage::kDiscovery, job_id, "", plan.trace_id,
                             store::DiscoveryCommandData(plan.channel_url, plan.options)));
    effects.Flush(txn);
    out.requeued = 1;
    return out;
  }
  for (const auto& v : plan.videos) {
    auto data = store::StageCommandData(v.stage, v.url, v.title, v.media_path, v.audio_path);
    if (!data) continue;  // cannot run that stage again (its input is unknown)
    store::ResetVideoForRetry(txn, job_id, v.video_id);
    effects.Command(protocol::NewCommand(v.stage, job_id, v.video_id, plan.trace_id, *data));
    ++out.requeued;
  }
  if (out.requeued == 0) {
    out.conflict = "nothing to retry: the job has no failed or dead-lettered videos";
    return out;
  }
  store::ReopenJobForRetry(txn, job_id, /*discovery=*/false);
  effects.Flush(txn);
  return out;
}

}  // namespace chansum::orchestrator
