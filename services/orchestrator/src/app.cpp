#include "app.hpp"

#include <atomic>
#include <chrono>
#include <memory>

#include <unistd.h>

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
#include "chansum/net/destination.hpp"
#include "chansum/outbox/outbox.hpp"
#include "chansum/outbox/relays.hpp"
#include "chansum/outbox/topology.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/service/backoff.hpp"
#include "chansum/service/check.hpp"
#include "chansum/service/http_listener.hpp"
#include "chansum/service/loop.hpp"
#include "chansum/service/service.hpp"
#include "chansum/store/live.hpp"
#include "chansum/store/store.hpp"
#include "chansum/text/proper_nouns.hpp"
#include "digest.hpp"
#include "job_versions.hpp"
#include "reliability.hpp"
#include "subscriptions.hpp"

namespace chansum::orchestrator {
namespace {

// Deletes the outbox rows published more than `retention` ago, in rounds of at most 10000.
Status CleanOutbox(pg::ConnectionPool& pool, std::chrono::seconds retention) {
  std::int64_t total = 0;
  Status st = OkStatus();
  for (int round = 0; round < 100 && !StopSignal::Requested(); ++round) {
    auto deleted = pg::WithTransaction(
        pool, [&](pqxx::work& txn) { return outbox::DeletePublished(txn, retention); });
    if (!deleted.ok()) {
      st = deleted.error();
      break;
    }
    total += *deleted;
    if (*deleted < 10000) break;
  }
  if (total > 0) spdlog::info("outbox cleanup: deleted {} published rows", total);
  return st;
}

// A loop that runs `step` every `interval`, also after a failure (logged by the loop).
std::unique_ptr<service::BackgroundLoop> Every(std::string name, std::chrono::milliseconds interval,
                                               service::BackgroundLoop::Step step) {
  return std::make_unique<service::BackgroundLoop>(
      std::move(name), std::move(step), service::LoopOptions{interval, interval, interval});
}

// "<host>:<pid>": which orchestrator started a subscription check.
std::string SchedulerId() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

}  // namespace

struct OrchestratorConfig {
  std::string http_addr;
  int http_port = 8080;
  int db_pool_size = 8;
  std::string queue_prefix;
  int delivery_limit = outbox::kDefaultDeliveryLimit;
  LiveOptions live;
  int job_changes_retention_hours = 24;
  std::chrono::seconds outbox_retention{3600};
  http::AccessConfig access;  // API_TOKEN (never logged), ALLOW_UNAUTHENTICATED, HTTP_* limits
  std::chrono::milliseconds digest_interval{2000};
  JobVersionOptions job_versions;       // GET /jobs/{id} + If-None-Match from memory
  net::DestinationPolicy fetch_policy;  // FETCH_ALLOWLIST: POST /jobs refuses non-public URLs
  std::chrono::milliseconds subscription_tick{10000};        // SUBSCRIPTION_TICK (0: no scheduler)
  std::chrono::milliseconds subscription_min_every{300000};  // SUBSCRIPTION_MIN_EVERY
  std::chrono::milliseconds retention_interval{600000};      // RETENTION_INTERVAL (0: off)
  text::ProperNounsSetting proper_nouns;                     // TEXT_PROPER_NOUNS (txt)
  FeedPrecheck feed_precheck;  // SUBSCRIPTION_FEED_PRECHECK, SUBSCRIPTION_FEED_URL

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
        static_cast<int>(env.Int("JOB_CHANGES_RETENTION_HOURS", 24, 1, std::int64_t{24} * 365));
    c.outbox_retention = std::chrono::duration_cast<std::chrono::seconds>(
        env.Duration("OUTBOX_RETENTION", std::chrono::hours(1)));
    c.access = http::AccessConfig::FromEnv(env);
    c.digest_interval = env.Duration("DIGEST_INTERVAL", c.digest_interval);
    c.job_versions.poll_interval =
        std::chrono::milliseconds(env.Int("JOB_VERSIONS_POLL_MS", 10, 1, 1000));
    c.job_versions.max_lag =
        std::chrono::milliseconds(env.Int("JOB_VERSIONS_MAX_LAG_MS", 250, 10, 10000));
    c.job_versions.max_jobs =
        static_cast<std::size_t>(env.Int("JOB_VERSIONS_MAX_JOBS", 10000, 0, 1000000));
    c.fetch_policy = net::DestinationPolicy::FromEnv(env);
    c.subscription_tick = env.Duration("SUBSCRIPTION_TICK", c.subscription_tick);
    c.subscription_min_every = env.Duration("SUBSCRIPTION_MIN_EVERY", c.subscription_min_every);
    c.retention_interval = env.Duration("RETENTION_INTERVAL", c.retention_interval);
    c.proper_nouns = text::LoadProperNounsSetting(env.OptionalString("TEXT_PROPER_NOUNS"));
    if (!c.proper_nouns.error.empty()) env.AddProblem(c.proper_nouns.error);
    c.feed_precheck.enabled = env.Bool("SUBSCRIPTION_FEED_PRECHECK", true);
    c.feed_precheck.url_template = env.String("SUBSCRIPTION_FEED_URL", media::kYouTubeFeedUrl);
    if (c.feed_precheck.url_template.find("{channel_id}") == std::string::npos ||
        media::UrlHost(c.feed_precheck.url_template).empty()) {
      env.AddProblem(
          "SUBSCRIPTION_FEED_URL: must be an http(s) URL containing {channel_id}, e.g. "
          "https://www.youtube.com/feeds/videos.xml?channel_id={channel_id}");
    }
    if (c.subscription_min_every < std::chrono::seconds(1)) {
      c.subscription_min_every = std::chrono::seconds(1);
    }
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
  const auto service_options = service::ServiceOptions::FromEnv(env);
  if (service::ConfigFailed(env)) return 2;
  // Refused before anything else: an open API beyond this host is a configuration error.
  if (http::ExposureRefused("HTTP_ADDR", config.http_addr, "the API", config.access)) return 2;

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
  deps.api_token = config.access.api_token;
  deps.metrics_public = http::IsLoopbackAddress(config.http_addr);
  deps.limits = config.access.limits;
  deps.check_destination = [policy = config.fetch_policy](const std::string& url) {
    return policy.Check(url);
  };
  deps.txn = [&pool](const std::function<void(pqxx::work&)>& fn) -> Status {
    return pg::WithTransaction(pool, [&](pqxx::work& txn) {
      fn(txn);
      return Ok{};
    });
  };
  deps.live = config.live;
  if (!config.proper_nouns.warning.empty()) spdlog::warn("{}", config.proper_nouns.warning);
  deps.readable.proper_nouns = config.proper_nouns.nouns;
  deps.subscription_min_every_s = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(config.subscription_min_every).count());
  deps.live.stopping = [] { return StopSignal::Requested(); };
  std::atomic<bool> dlq_ok{false};
  auto connect = [pg_config]() -> std::unique_ptr<pqxx::connection> {
    auto c = pg::Connect(pg_config);
    if (!c.ok()) throw std::runtime_error(c.error().message);
    return std::move(*c);
  };

  // The components start in this order and stop in reverse: the API first, the relays last (so
  // what the loops wrote is published).
  service::Service svc("orchestrator", service_options);
  // The relays publish the discovery commands that POST /jobs writes to the outbox, and any other
  // pending rows (every service's relays share the outbox).
  svc.Add(std::make_unique<outbox::Relays>(
      outbox::RelaysConfig{pg_config, amqp_config, kafka_config, "orchestrator",
                           config.queue_prefix, config.delivery_limit}));
  // Readiness: each dependency checked on its own thread, /readyz reads the last answers and never
  // waits for a server (libs/http/readiness.hpp).
  svc.Add(std::make_unique<service::DependencyCheckComponent>("postgres", [&pool] {
    return pg::WithTransaction(pool, [](pqxx::work& txn) {
      txn.exec("SELECT 1");
      return Ok{};
    });
  }));
  svc.Add(std::make_unique<service::DependencyCheckComponent>("docstore",
                                                              [&docs] { return (*docs)->Ping(); }));
  // RabbitMQ: a connection opened every 5 s, and the pipeline's queues declared as soon as it is
  // reachable, so the first discovery command finds its queue even before any stage has started.
  svc.Add(std::make_unique<service::DependencyCheckComponent>(
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
      http::DependencyCheckOptions{std::chrono::seconds(5), std::chrono::seconds(2)}));
  deps.readiness = [&svc, &dlq_ok] {
    nlohmann::json body = svc.Readiness();
    body["checks"]["dead_letter_consumer"] = dlq_ok.load();  // informational: not part of "ready"
    return body;
  };
  // Reliability loops: the lease sweeper and the dead-letter recorder (reliability.hpp).
  svc.Add(service::RunUntilStopped("sweeper", [&](const std::atomic<bool>& stop) {
    SweeperLoop(pg_config, reliability, stop);
  }));
  svc.Add(service::RunUntilStopped("dead-letters", [&](const std::atomic<bool>& stop) {
    DeadLetterLoop(amqp_config, pg_config, reliability, config.delivery_limit, stop, dlq_ok);
  }));
  // The outbox keeps its published rows for OUTBOX_RETENTION, the live stream's change feed
  // JOB_CHANGES_RETENTION_HOURS (both idempotent with several orchestrators).
  svc.Add(Every("outbox cleanup", std::chrono::minutes(1), [&](const std::atomic<bool>&) {
    return CleanOutbox(pool, config.outbox_retention);
  }));
  svc.Add(Every("job_changes cleanup", std::chrono::minutes(10),
                [&](const std::atomic<bool>&) -> Status {
                  auto deleted = pg::WithTransaction(pool, [&](pqxx::work& txn) {
                    return store::DeleteOldJobChanges(txn, config.job_changes_retention_hours);
                  });
                  if (!deleted.ok()) return deleted.error();
                  if (*deleted > 0) spdlog::info("job_changes cleanup: deleted {} rows", *deleted);
                  return OkStatus();
                }));
  // Channel digests of finished jobs (safe with several orchestrators: SKIP LOCKED claims).
  // Only jobs that finish from now on: older ones (or another deployment's) get theirs on request.
  const std::string digests_since = NowRfc3339();
  svc.Add(Every("digest loop", config.digest_interval, [&](const std::atomic<bool>&) -> Status {
    auto built = BuildPendingDigests(deps, 20, digests_since);
    if (!built.ok()) {
      Error e = std::move(built).error();  // class, code and retry hint kept
      e.message = e.ToString();
      return e;
    }
    if (*built > 0) spdlog::info("built {} channel digests", *built);
    return OkStatus();
  }));
  // Subscriptions (issue 15): due checks claimed FOR UPDATE SKIP LOCKED, so several
  // orchestrators never start the same check twice.
  if (config.subscription_tick.count() > 0) {
    const std::string scheduler_id = SchedulerId();
    svc.Add(Every("subscription scheduler", config.subscription_tick,
                  [&, scheduler_id](const std::atomic<bool>&) -> Status {
                    auto started = CheckDueSubscriptions(deps.txn, deps.queue_prefix, scheduler_id,
                                                         20, config.feed_precheck);
                    if (!started.ok()) return started.error();
                    if (*started > 0) spdlog::info("started {} subscription checks", *started);
                    return OkStatus();
                  }));
  }
  // Retention (§3): documents of subscriptions with keep_days, deleted when they expire.
  if (config.retention_interval.count() > 0) {
    svc.Add(Every("retention", config.retention_interval, [&](const std::atomic<bool>&) -> Status {
      auto expired = ExpireSubscriptionDocuments(deps.txn, **docs);
      if (!expired.ok()) return expired.error();
      if (*expired > 0) spdlog::info("retention: deleted the documents of {} videos", *expired);
      return OkStatus();
    }));
  }
  // Versions of the jobs clients poll, followed from job_changes (JOB_VERSIONS_MAX_JOBS=0: off).
  std::unique_ptr<JobVersions> job_versions;
  if (config.job_versions.max_jobs > 0) {
    job_versions = std::make_unique<JobVersions>(connect, config.job_versions);
    deps.job_versions = job_versions.get();
    svc.Add(service::RunUntilStopped(
        "job-versions", [&](const std::atomic<bool>& stop) { job_versions->Run(stop); }));
  }
  auto& api =
      svc.Add(std::make_unique<service::HttpListener>("api", config.http_addr, config.http_port));
  RegisterRoutes(api.server(), deps);

  spdlog::info("orchestrator listening on http://{}:{} ({})", config.http_addr, config.http_port,
               config.access.api_token.empty() ? "no API_TOKEN: the API is open"
                                               : "API_TOKEN set: calls need the bearer token");
  if (Status st = svc.Run(); !st.ok()) return 1;  // logged by the service (e.g. cannot listen)
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace chansum::orchestrator
