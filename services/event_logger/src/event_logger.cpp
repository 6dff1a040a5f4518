#include "src/event_logger.hpp"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "chansum/amqp/consumer.hpp"
#include "chansum/amqp/topology.hpp"
#include "chansum/common/logging.hpp"
#include "chansum/common/signals.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/metrics/metrics.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/service/backoff.hpp"
#include "chansum/service/http_listener.hpp"
#include "chansum/service/loop.hpp"
#include "chansum/service/service.hpp"

namespace chansum::event_logger {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPoll{200};  // longest wait inside the AMQP thread before checking stop

}  // namespace

EventLoggerConfig EventLoggerConfig::FromEnv(ConfigReader& env) {
  EventLoggerConfig c;
  c.amqp = amqp::AmqpConfig::FromEnv(env);
  c.queue_prefix = env.String("QUEUE_PREFIX", "");
  c.audit_dir = env.String("AUDIT_LOG_DIR", "/var/lib/chansum/audit");
  if (c.audit_dir.empty()) env.AddProblem("AUDIT_LOG_DIR: must not be empty");
  c.max_bytes = static_cast<std::uint64_t>(
      env.Int("AUDIT_LOG_MAX_BYTES", 64LL * 1024 * 1024, 1024, 1LL << 40));
  c.keep = static_cast<int>(env.Int("AUDIT_LOG_KEEP", 10, 1, 10000));
  c.prefetch = static_cast<int>(env.Int("EVENT_LOGGER_PREFETCH", 100, 1, 65535));
  c.batch_window = env.Duration("EVENT_LOGGER_BATCH_WINDOW", milliseconds(100));
  if (c.batch_window > std::chrono::seconds(10)) {
    env.AddProblem("EVENT_LOGGER_BATCH_WINDOW: at most 10s");
  }
  c.delivery_limit =
      static_cast<int>(env.Int("EVENT_LOGGER_DELIVERY_LIMIT", kDefaultDeliveryLimit, 1, 1000));
  c.health_addr = env.String("HEALTH_ADDR", "127.0.0.1");
  c.health_port = static_cast<int>(env.Int("HEALTH_PORT", 0, 0, 65535));
  c.access = http::AccessConfig::FromEnv(env);
  const bool backfill = env.Bool("AUDIT_BACKFILL", true);
  if (backfill && !env.String("KAFKA_BROKERS", "").empty()) {
    c.backfill.kafka = kafka::KafkaConfig::FromEnv(env, "event_logger");
    // Topics created after the subscription are found within 10 s (librdkafka's default: 5 min).
    c.backfill.kafka.extra["topic.metadata.refresh.interval.ms"] = "10000";
  }
  c.backfill.group_id = c.queue_prefix + "event-logger-backfill";
  c.backfill.topics = protocol::EventTopics(c.queue_prefix);
  c.backfill.delay = env.Duration("AUDIT_BACKFILL_DELAY", std::chrono::seconds(30));
  if (c.backfill.delay > std::chrono::hours(24))
    env.AddProblem("AUDIT_BACKFILL_DELAY: at most 24h");
  return c;
}

Status DeclareAuditTopology(amqp::Connection& conn, const EventLoggerConfig& config) {
  if (auto st = amqp::DeclareFanout(conn, config.Exchange()); !st.ok()) return st;
  amqp::QueueOptions dlq_options;
  dlq_options.arguments = {{"x-queue-type", std::string("quorum")}};
  if (auto st = amqp::DeclareQueue(conn, config.DeadLetterQueue(), dlq_options); !st.ok()) {
    return st;
  }
  amqp::QueueOptions options;
  options.arguments = {
      {"x-queue-type", std::string("quorum")},
      {"x-delivery-limit", std::int64_t{config.delivery_limit}},
      {"x-dead-letter-exchange", std::string()},
      {"x-dead-letter-routing-key", config.DeadLetterQueue()},
      {"x-dead-letter-strategy", std::string("at-least-once")},
      {"x-overflow", std::string("reject-publish")},
  };
  if (auto st = amqp::DeclareQueue(conn, config.Queue(), options); !st.ok()) return st;
  return amqp::BindQueue(conn, config.Queue(), config.Exchange());
}

void EventLogger::Run(const std::function<bool()>& stop) {
  std::unique_ptr<AuditLog> log;
  std::unique_ptr<amqp::Consumer> consumer;
  KafkaBackfill backfill(config_.backfill);
  service::Backoff backoff(milliseconds(200), std::chrono::seconds(15), stop);
  service::Backoff disk_backoff(milliseconds(500), std::chrono::seconds(30), stop);  // bad disk
  const auto prefetch = static_cast<std::size_t>(config_.prefetch);

  auto drop_consumer = [&](const std::string& why) {
    spdlog::warn("RabbitMQ consumer lost ({}); unacked deliveries will be redelivered", why);
    consumer.reset();
    ready_ = false;
  };

  // Writes one batch: malformed deliveries are rejected (dead-lettered), the rest appended and
  // fsynced, then everything appended or already known is acked with ONE multiple-ack.
  auto process = [&](std::vector<amqp::Delivery>& batch) {
    std::vector<ParsedEvent> events;
    events.reserve(batch.size());
    std::uint64_t ack_tag = 0;
    std::size_t good = 0;
    for (auto& d : batch) {
      auto parsed = ParseEvent(d.body);
      if (!parsed.ok()) {
        ScopedLogContext ctx({{"message_id", d.message_id}});
        spdlog::warn(
            "rejecting malformed event ({}): delivery tag {}, routing key '{}', {} bytes; "
            "dead-lettered to {}",
            parsed.error().message, d.delivery_tag, d.routing_key, d.body.size(),
            config_.DeadLetterQueue());
        if (auto st = consumer->Reject(d.delivery_tag, /*requeue=*/false); !st.ok()) {
          drop_consumer(st.error().message);
          return;
        }
        stats_.rejected.fetch_add(1);
        continue;
      }
      events.push_back(std::move(parsed).value());
      ack_tag = std::max(ack_tag, d.delivery_tag);
      ++good;
    }
    if (events.empty()) return;
    auto appended = log->Append(events);
    if (!appended.ok()) {
      // Nothing of this batch is acked: close the consumer so the broker redelivers it, and reopen
      // the log (rebuilding the index from what is really on disk).
      spdlog::error("audit log write failed: {}", appended.error().ToString());
      log.reset();
      drop_consumer("audit log write failed");
      return;
    }
    disk_backoff.Reset();
    stats_.written.fetch_add(appended->written);
    stats_.duplicates.fetch_add(appended->duplicates);
    if (appended->written > 0) stats_.batches.fetch_add(1);
    // Acked ⇒ on disk: the lines were fsynced above.
    if (auto st = consumer->Ack(ack_tag, /*multiple=*/true); !st.ok()) {
      drop_consumer(st.error().message);  // written but not acked: redelivered, then deduplicated
      return;
    }
    stats_.acked.fetch_add(good);
    spdlog::debug("batch of {}: {} written, {} duplicates", good, appended->written,
                  appended->duplicates);
  };

  while (!stop()) {
    if (!log) {
      auto opened = AuditLog::Open(config_.LogOptions());
      if (!opened.ok()) {
        ready_ = false;
        spdlog::error("audit log unavailable ({}), retrying", opened.error().ToString());
        if (!backoff.Wait()) break;
        continue;
      }
      log = std::move(opened).value();
      spdlog::info("audit log {} open: {} event ids known from {} kept files",
                   config_.audit_dir.string(), log->known_ids(), config_.keep);
    }
    // Before RabbitMQ, so it runs (once per backoff step) while the broker is unreachable too.
    if (auto filled = backfill.Step(*log); filled.ok()) {
      stats_.backfilled.fetch_add(filled->written);
      stats_.written.fetch_add(filled->written);
    } else {
      spdlog::error("audit log write failed (backfill): {}", filled.error().ToString());
      log.reset();
      if (!disk_backoff.Wait()) break;
      continue;
    }
    if (!consumer) {
      auto conn =
          amqp::Connection::Open(config_.amqp, config_.queue_prefix + "event-logger-topology");
      Status declared = conn.ok() ? DeclareAuditTopology(**conn, config_) : Status(conn.error());
      if (!declared.ok()) {
        spdlog::warn("RabbitMQ unavailable at {} ({}), retrying", config_.amqp.Redacted(),
                     declared.error().message);
        if (!backoff.Wait()) break;
        continue;
      }
      amqp::ConsumerOptions options;
      options.queue = config_.Queue();
      options.prefetch = static_cast<std::uint16_t>(config_.prefetch);
      auto c = amqp::Consumer::Open(config_.amqp, config_.ConsumerConnectionName(), options);
      if (!c.ok()) {
        spdlog::warn("cannot consume from {} ({}), retrying", config_.Queue(), c.error().message);
        if (!backoff.Wait()) break;
        continue;
      }
      consumer = std::move(c).value();
      ready_ = true;
      stats_.connects.fetch_add(1);
      backoff.Reset();
      spdlog::info("consuming {} (bound to {}) with prefetch {}", config_.Queue(),
                   config_.Exchange(), config_.prefetch);
    }

    // Collect a batch: whatever arrives within batch_window of the first delivery, at most
    // `prefetch`. Next() services heartbeats while it waits.
    auto first = consumer->Next(kPoll);
    if (!first.ok()) {
      drop_consumer(first.error().message);
      continue;
    }
    if (!first->has_value()) continue;
    std::vector<amqp::Delivery> batch;
    batch.push_back(std::move(**first));
    const auto deadline = Clock::now() + config_.batch_window;
    bool lost = false;
    while (batch.size() < prefetch && !stop()) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left <= milliseconds::zero()) break;
      auto next = consumer->Next(std::min(left, kPoll));
      if (!next.ok()) {
        drop_consumer(next.error().message);  // nothing written or acked: all redelivered
        lost = true;
        break;
      }
      if (next->has_value()) batch.push_back(std::move(**next));
    }
    if (lost) continue;
    process(batch);
    if (!log && !disk_backoff.Wait()) break;  // the write failed: don't spin on a bad disk
  }

  // Stop: the last batch was written, fsynced and acked above; take no more deliveries and close
  // (anything received but unacked goes back to the queue).
  ready_ = false;
  if (consumer) {
    if (auto st = consumer->Cancel(); !st.ok()) {
      spdlog::warn("basic.cancel failed: {}", st.error().message);
    }
    consumer.reset();
  }
  log.reset();  // fsync + close
  spdlog::info("event logger stopped: {} written, {} duplicates, {} rejected",
               stats_.written.load(), stats_.duplicates.load(), stats_.rejected.load());
}

int RunEventLoggerService() {
  StopSignal::Install();
  InitLoggingFromEnv("event_logger");
  ConfigReader env;
  EventLoggerConfig config = EventLoggerConfig::FromEnv(env);
  const auto service_options = service::ServiceOptions::FromEnv(env);
  if (service::ConfigFailed(env)) return 2;
  // /metrics beyond this host only with the token.
  if (config.health_port > 0 &&
      http::ExposureRefused("HEALTH_ADDR", config.health_addr, "its health and metrics endpoints",
                            config.access)) {
    return 2;
  }
  spdlog::info(
      "starting event_logger: {} -> {}, audit dir {}, max {} bytes x {} files, "
      "prefetch {}, RabbitMQ {}, backfill from Kafka {}",
      config.Exchange(), config.Queue(), config.audit_dir.string(), config.max_bytes, config.keep,
      config.prefetch, config.amqp.Redacted(),
      config.backfill.enabled()
          ? config.backfill.kafka.brokers + " (" + std::to_string(config.backfill.delay.count()) +
                " ms behind)"
          : std::string("off (KAFKA_BROKERS not set or AUDIT_BACKFILL=false)"));

  EventLogger logger(config);
  // /metrics: the logger's counters, brought up to date on each scrape.
  auto& events = metrics::Registry::Default().AddCounter(
      "chansum_event_logger_events_total",
      "Events consumed by event_logger, by result (written, duplicate, rejected; backfilled: "
      "written from Kafka because the fanout had not delivered them).",
      {"result"});
  auto& acked = metrics::Registry::Default()
                    .AddCounter("chansum_event_logger_acked_total",
                                "Deliveries acked (written and fsynced, or duplicates).")
                    .Labels({});
  struct Seen {
    std::uint64_t written = 0, duplicates = 0, rejected = 0, backfilled = 0, acked = 0;
  };
  auto seen = std::make_shared<Seen>();
  const auto catch_up = [](metrics::Counter& c, std::uint64_t now, std::uint64_t& last) {
    if (now > last) c.Inc(static_cast<double>(now - last));
    last = now;
  };
  const int stats_collector = metrics::Registry::Default().AddCollector([&, seen] {
    const auto& s = logger.stats();
    catch_up(events.Labels({"written"}), s.written.load(), seen->written);
    catch_up(events.Labels({"duplicate"}), s.duplicates.load(), seen->duplicates);
    catch_up(events.Labels({"rejected"}), s.rejected.load(), seen->rejected);
    catch_up(events.Labels({"backfilled"}), s.backfilled.load(), seen->backfilled);
    catch_up(acked, s.acked.load(), seen->acked);
  });
  // The health listener starts first and stops last; the consumer stops first (the batch in hand
  // is written, fsynced and acked, or left unacked for redelivery).
  service::Service svc("event_logger", service_options);
  if (config.health_port > 0) {
    auto& health = svc.Add(std::make_unique<service::HttpListener>(
        "health endpoint", config.health_addr, config.health_port));
    http::ServerOptions options{std::size_t{64} * 1024, false};
    config.access.ApplyTo(options, config.health_addr);
    http::ConfigureJsonServer(health.server(), options);
    health.server().Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    health.server().Get("/readyz", [&logger](const httplib::Request&, httplib::Response& res) {
      const bool ready = logger.ready();
      const auto& s = logger.stats();
      nlohmann::json body = {{"ready", ready},
                             {"checks", {{"rabbitmq_and_audit_log", ready}}},
                             {"written", s.written.load()},
                             {"duplicates", s.duplicates.load()},
                             {"rejected", s.rejected.load()},
                             {"backfilled", s.backfilled.load()}};
      res.status = ready ? 200 : 503;
      res.set_content(body.dump(), "application/json");
    });
    http::AddMetricsRoute(health.server());
  }
  svc.Add(service::RunUntilStopped("consumer", [&logger](const std::atomic<bool>& stop) {
    logger.Run([&stop] { return stop.load(); });
  }));
  const Status run = svc.Run();
  metrics::Registry::Default().RemoveCollector(stats_collector);
  if (!run.ok()) return 2;  // the health endpoint could not listen (logged by the service)
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace chansum::event_logger
