#include "app.hpp"

#include <atomic>
#include <chrono>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api.hpp"
#include "chansum/amqp/config.hpp"
#include "chansum/amqp/connection.hpp"
#include "chansum/common/config.hpp"
#include "chansum/common/logging.hpp"
#include "chansum/common/signals.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/http/exposure.hpp"
#include "chansum/http/readiness.hpp"
#include "chansum/kafka/config.hpp"
#include "chansum/metrics/metrics.hpp"
#include "chansum/outbox/amqp_sink.hpp"
#include "chansum/outbox/kafka_sink.hpp"
#include "chansum/outbox/metrics.hpp"
#include "chansum/outbox/outbox.hpp"
#include "chansum/outbox/topology.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/store/live.hpp"
#include "chansum/store/store.hpp"
#include "digest.hpp"
#include "job_versions.hpp"
#include "reliability.hpp"

namespace chansum::orchestrator {

struct OrchestratorConfig {
  std::string http_addr;
  int http_port = 8080;
  int db_pool_size = 8;
  std::string queue_prefix;
  int delivery_limit = outbox::kDefaultDeliveryLimit;
  LiveOptions live;
  int job_changes_retention_hours = 24;
  std::chrono::seconds outbox_retention{3600};
  std::string api_token;  // never logged
  std::chrono::milliseconds digest_interval{2000};
  JobVersionOptions job_versions;  // GET /jobs/{id} + If-None-Match from memory

  static OrchestratorConfig FromEnv(ConfigReader& env) {
    OrchestratorConfig c;
    c.http_addr = env.String("HTTP_ADDR", "127.0.0.1");
    c.http_port = static_cast<int>(env.Int("HTTP_PORT", 8080, 1, 65535));
    c.db_pool_size = static_cast<int>(env.Int("DB_POOL_SIZE", 8, 1, 256));
    c.queue_prefix = env.String("QUEUE_PREFIX", "");
    c.delivery_limit =
        static_cast<int>(env.Int("DELIVERY_LIMIT", outbox::kDefaultDeliveryLimit, 1, 1000));
    c.live.heartbeat_seconds = static_cast<int>(env.Int("EVENTS_HEARTBEAT_SECONDS", 15, 1, 300));
    c.live.poll_ms = static_cast<int>(env.Int("EVENTS_POLL_MS", 500, 50, 10000));
    c.live.max_streams = static_cast<int>(env.Int("EVENTS_MAX_STREAMS", 64, 1, 1000));
    c.job_changes_retention_hours =
        static_cast<int>(env.Int("JOB_CHANGES_RETENTION_HOURS", 24, 1, 24 * 365));
    c.outbox_retention = std::chrono::duration_cast<std::chrono::seconds>(
        env.Duration("OUTBOX_RETENTION", std::chrono::hours(1)));
    c.api_token = env.String("API_TOKEN", "");
    c.digest_interval = env.Duration("DIGEST_INTERVAL", c.digest_interval);
    c.job_versions.poll_interval =
        std::chrono::milliseconds(env.Int("JOB_VERSIONS_POLL_MS", 10, 1, 1000));
    c.job_versions.max_lag =
        std::chrono::milliseconds(env.Int("JOB_VERSIONS_MAX_LAG_MS", 250, 10, 10000));
    c.job_versions.max_jobs =
        static_cast<std::size_t>(env.Int("JOB_VERSIONS_MAX_JOBS", 10000, 0, 1000000));
    return c;
  }
};

int Main() {
  StopSignal::Install();
  InitLoggingFromEnv("orchestrator");
  ConfigReader env;
  const auto config = OrchestratorConfig::FromEnv(env);
  const auto pg_config = pg::PgConfig::FromEnv(env);
  const auto amqp_config = amqp::AmqpConfig::FromEnv(env);
  const auto kafka_config = kafka::KafkaConfig::FromEnv(env, "orchestrator");
  const auto doc_config = docstore::DocstoreConfig::FromEnv(env);
  const auto reliability = ReliabilityConfig::FromEnv(env);
  try {
    env.Finish();
  } catch (const ConfigError& e) {
    spdlog::critical("{}", e.what());
    return 2;
  }

  // Schema (idempotent, advisory-locked), waiting for PostgreSQL if it is not up yet.
  int permanent_failures = 0;
  while (!StopSignal::Requested()) {
    auto conn = pg::Connect(pg_config);
    if (conn.ok()) {
      auto applied = store::Migrate(**conn);
      if (applied.ok()) {
        if (*applied > 0) spdlog::info("applied {} schema migrations", *applied);
        break;
      }
      spdlog::error("schema migration failed: {}", applied.error().ToString());
      // Concurrent migrators of different sets can collide creating schema_migrations on a
      // fresh database; a few tries settle it, after that a permanent error is real.
      if (!applied.error().transient() && ++permanent_failures >= 5) return 1;
    } else {
      spdlog::warn("PostgreSQL unavailable ({}), retrying", conn.error().message);
    }
    StopSignal::WaitFor(std::chrono::seconds(1));
  }
  if (StopSignal::Requested()) return 0;

  pg::ConnectionPool pool(pg_config, static_cast<std::size_t>(config.db_pool_size));
  auto docs = docstore::DocStore::Open(doc_config);
  if (!docs.ok()) {
    spdlog::critical("document store: {}", docs.error().ToString());
    return 2;
  }

  ApiDeps deps;
  deps.queue_prefix = config.queue_prefix;
  deps.docs = docs->get();
  deps.api_token = config.api_token;
  deps.txn = [&pool](const std::function<void(pqxx::work&)>& fn) -> Status {
    return pg::WithTransaction(pool, [&](pqxx::work& txn) {
      fn(txn);
      return Ok{};
    });
  };
  deps.live = config.live;
  deps.live.stopping = [] { return StopSignal::Requested(); };
  std::atomic<bool> dlq_ok{false};
  // Readiness: each dependency checked on its own thread, /readyz reads the last answers and never
  // waits for a server (libs/http/readiness.hpp).
  http::DependencyCheck pg_check("postgres", [&pool] {
    return pg::WithTransaction(pool, [](pqxx::work& txn) {
      txn.exec("SELECT 1");
      return Ok{};
    });
  });
  http::DependencyCheck docs_check("docstore", [&docs] { return (*docs)->Ping(); });
  // RabbitMQ: a connection opened every 5 s, and the pipeline's queues declared as soon as it is
  // reachable, so the first discovery command finds its queue even before any stage has started.
  http::DependencyCheck amqp_check(
      "rabbitmq",
      [&amqp_config, &config, declared = false]() mutable -> Status {
        auto conn = amqp::Connection::Open(amqp_config, "orchestrator-probe");
        if (!conn.ok()) return conn.error();
        if (!declared) {
          auto st =
              outbox::DeclarePipelineQueues(**conn, config.queue_prefix, config.delivery_limit);
          if (!st.ok()) return st;
          declared = true;
        }
        return OkStatus();
      },
      http::DependencyCheckOptions{std::chrono::seconds(5), std::chrono::seconds(2)});
  deps.readiness = [&] {
    nlohmann::json body = http::ReadinessBody({{"postgres", pg_check.Last()},
                                               {"docstore", docs_check.Last()},
                                               {"rabbitmq", amqp_check.Last()}});
    body["checks"]["dead_letter_consumer"] = dlq_ok.load();  // informational: not part of "ready"
    return body;
  };

  // The relays publish the discovery commands that POST /jobs writes to the outbox, and any other
  // pending rows (every service's relays share the outbox). One relay per destination, so a Kafka
  // outage never holds up commands.
  auto connect = [pg_config]() -> std::unique_ptr<pqxx::connection> {
    auto c = pg::Connect(pg_config);
    if (!c.ok()) throw std::runtime_error(c.error().message);
    return std::move(*c);
  };
  std::atomic<bool> relay_stop{false};
  std::thread relay([&] {
    outbox::Relay r(connect,
                    std::make_unique<outbox::AmqpSink>(amqp_config, "orchestrator-relay",
                                                       [&config](amqp::Connection& c) {
                                                         return outbox::DeclarePipelineQueues(
                                                             c, config.queue_prefix,
                                                             config.delivery_limit);
                                                       }),
                    nullptr, outbox::RelayOptions{});
    r.Run(relay_stop);
  });
  std::thread kafka_relay([&] {
    outbox::KafkaSinkOptions options;
    options.topics = protocol::EventTopics(config.queue_prefix);
    options.should_stop = [&relay_stop] { return relay_stop.load(); };
    outbox::Relay r(connect, nullptr,
                    std::make_unique<outbox::KafkaSink>(kafka_config, std::move(options)),
                    outbox::RelayOptions{});
    r.Run(relay_stop);
  });
  // GET /metrics: the outbox backlog next to the HTTP metrics (libs/http).
  const int backlog_collector = outbox::RegisterBacklogMetrics(connect);
  // The live stream's change feed keeps JOB_CHANGES_RETENTION_HOURS, the outbox its published
  // rows for OUTBOX_RETENTION (both idempotent with several orchestrators).
  std::thread changes_cleanup([&] {
    auto next = std::chrono::steady_clock::now();
    auto next_outbox = std::chrono::steady_clock::now();
    while (!StopSignal::WaitFor(std::chrono::seconds(1))) {
      if (std::chrono::steady_clock::now() >= next_outbox) {
        next_outbox = std::chrono::steady_clock::now() + std::chrono::minutes(1);
        std::int64_t total = 0;
        for (int round = 0; round < 100 && !StopSignal::Requested(); ++round) {
          auto deleted = pg::WithTransaction(pool, [&](pqxx::work& txn) {
            return outbox::DeletePublished(txn, config.outbox_retention);
          });
          if (!deleted.ok()) {
            spdlog::warn("outbox cleanup: {}", deleted.error().message);
            break;
          }
          total += *deleted;
          if (*deleted < 10000) break;
        }
        if (total > 0) spdlog::info("outbox cleanup: deleted {} published rows", total);
      }
      if (std::chrono::steady_clock::now() < next) continue;
      next = std::chrono::steady_clock::now() + std::chrono::minutes(10);
      auto deleted = pg::WithTransaction(pool, [&](pqxx::work& txn) {
        return store::DeleteOldJobChanges(txn, config.job_changes_retention_hours);
      });
      if (!deleted.ok()) {
        spdlog::warn("job_changes cleanup: {}", deleted.error().message);
      } else if (*deleted > 0) {
        spdlog::info("job_changes cleanup: deleted {} rows", *deleted);
      }
    }
  });
  // Reliability loops: the lease sweeper and the dead-letter recorder (reliability.hpp).
  std::atomic<bool> loops_stop{false};
  std::thread sweeper([&] { SweeperLoop(pg_config, reliability, loops_stop); });
  std::thread dead_letters([&] {
    DeadLetterLoop(amqp_config, pg_config, reliability, config.delivery_limit, loops_stop, dlq_ok);
  });

  // Channel digests of finished jobs (safe with several orchestrators: SKIP LOCKED claims).
  // Only jobs that finish from now on: older ones (or another deployment's) get theirs on request.
  const std::string digests_since = NowRfc3339();
  std::thread digests([&] {
    while (!StopSignal::WaitFor(config.digest_interval)) {
      auto built = BuildPendingDigests(deps, 20, digests_since);
      if (!built.ok()) {
        spdlog::warn("digest loop: {}", built.error().ToString());
      } else if (*built > 0) {
        spdlog::info("built {} channel digests", *built);
      }
    }
  });

  // Versions of the jobs clients poll, followed from job_changes (JOB_VERSIONS_MAX_JOBS=0: off).
  std::unique_ptr<JobVersions> job_versions;
  std::atomic<bool> versions_stop{false};
  std::thread versions_thread;
  if (config.job_versions.max_jobs > 0) {
    job_versions = std::make_unique<JobVersions>(connect, config.job_versions);
    deps.job_versions = job_versions.get();
    versions_thread = std::thread([&] { job_versions->Run(versions_stop); });
  }

  httplib::Server server;
  RegisterRoutes(server, deps);
  std::thread stopper([&] {
    while (!StopSignal::WaitFor(std::chrono::milliseconds(200))) {
    }
    server.stop();
  });
  spdlog::info("orchestrator listening on http://{}:{} ({})", config.http_addr, config.http_port,
               config.api_token.empty() ? "no API_TOKEN: the API is open"
                                        : "API_TOKEN set: calls need the bearer token");
  http::WarnIfExposed("HTTP_ADDR", config.http_addr, "the API", !config.api_token.empty());
  const bool listened = server.listen(config.http_addr.c_str(), config.http_port);
  if (!listened && !StopSignal::Requested()) {
    spdlog::critical("cannot listen on {}:{}", config.http_addr, config.http_port);
    StopSignal::Request();
  }
  stopper.join();
  versions_stop = true;
  if (versions_thread.joinable()) versions_thread.join();
  changes_cleanup.join();
  loops_stop = true;
  sweeper.join();
  dead_letters.join();
  digests.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the relay catch up
  relay_stop = true;
  relay.join();
  kafka_relay.join();
  metrics::Registry::Default().RemoveCollector(backlog_collector);
  spdlog::info("stopped cleanly");
  return listened ? 0 : 1;
}

}  // namespace chansum::orchestrator
