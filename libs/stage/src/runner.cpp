#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "chansum/amqp/config.hpp"
#include "chansum/common/logging.hpp"
#include "chansum/common/signals.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/http/exposure.hpp"
#include "chansum/kafka/config.hpp"
#include "chansum/outbox/relays.hpp"
#include "chansum/outbox/topology.hpp"
#include "chansum/pg/migrate.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/pipeline/pipeline.hpp"
#include "chansum/service/backoff.hpp"
#include "chansum/service/check.hpp"
#include "chansum/service/http_listener.hpp"
#include "chansum/service/loop.hpp"
#include "chansum/service/service.hpp"
#include "chansum/stage/leases.hpp"
#include "chansum/stage/stage.hpp"
#include "chansum/stage/token_budget.hpp"
#include "chansum/store/store.hpp"
#include "consumer.hpp"

namespace chansum::stage {
namespace {

using Clock = service::Clock;

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string WorkerId() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

// Applies the schema (idempotent, under an advisory lock), retrying while PostgreSQL is down.
// False when it failed for good; true also when a stop was requested meanwhile.
bool MigrateWithRetry(const pg::PgConfig& pg_config) {
  service::Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(10));
  int permanent_failures = 0;
  while (!StopSignal::Requested()) {
    auto conn = pg::Connect(pg_config);
    if (!conn.ok()) {
      spdlog::warn("migrate: PostgreSQL unavailable ({}), retrying", conn.error().message);
      if (!backoff.Wait()) break;
      continue;
    }
    auto applied = store::Migrate(**conn);
    if (applied.ok()) {
      if (*applied > 0) spdlog::info("applied {} schema migrations", *applied);
      return true;
    }
    spdlog::error("schema migration failed: {}", applied.error().ToString());
    // Processes migrating different sets at once can collide creating schema_migrations (a
    // duplicate-key error on a fresh database): a few tries settle it; after that a permanent
    // error is real.
    if ((!applied.error().transient() && ++permanent_failures >= 5) || !backoff.Wait()) {
      return false;
    }
  }
  return true;
}

// Renews the leases of the work in progress every lease/3 and, every second, checks PostgreSQL on
// its own connection, so readiness turns false during an outage even when no worker is busy.
// Never on the AMQP I/O thread.
std::unique_ptr<service::BackgroundLoop> LeaseLoop(const pg::PgConfig& pg_config,
                                                   LeaseKeeper& leases, Health& health) {
  struct State {
    std::unique_ptr<pqxx::connection> conn;
    Clock::time_point last_renewal;
  };
  auto state = std::make_shared<State>();
  state->last_renewal = Clock::now() - leases.Interval();
  auto step = [&pg_config, &leases, &health, state](const std::atomic<bool>&) -> Status {
    try {
      if (!state->conn) {
        auto c = pg::Connect(pg_config);
        if (!c.ok()) throw std::runtime_error(c.error().message);
        state->conn = std::move(*c);
      }
      {
        pqxx::nontransaction probe(*state->conn);
        probe.exec("SELECT 1");
      }
      health.pg_probe_ok = true;
      if (Clock::now() - state->last_renewal >= leases.Interval()) {
        const int held = leases.Held();
        const int renewed = leases.RenewOnce(*state->conn);
        if (held > 0) spdlog::debug("renewed {} of {} leases", renewed, held);
        state->last_renewal = Clock::now();
      }
      return OkStatus();
    } catch (const std::exception& e) {
      health.pg_probe_ok = false;
      state->conn.reset();
      return Error::Transient("pg", std::string("PostgreSQL unavailable (") + e.what() + ")");
    }
  };
  return std::make_unique<service::BackgroundLoop>(
      "lease/probe connection", std::move(step),
      service::LoopOptions{std::chrono::seconds(1), std::chrono::milliseconds(200),
                           std::chrono::seconds(1)});
}

}  // namespace

RunnerConfig RunnerConfig::FromEnv(ConfigReader& env, const StageDefinition& def) {
  RunnerConfig c;
  c.stage = def.stage;
  c.service = std::string(protocol::StageName(def.stage));
  c.concurrency = static_cast<int>(
      env.Int(ToUpper(c.service) + "_CONCURRENCY", def.default_concurrency, 1, 64));
  c.short_handler = def.short_handler;
  c.job_level = def.job_level;
  c.batch_size = static_cast<int>(env.Int("BATCH_SIZE", 100, 1, 1000));
  const long default_prefetch =
      c.short_handler ? std::min(2L * c.concurrency * c.batch_size, 2000L) : c.concurrency;
  c.prefetch = static_cast<int>(env.Int("PREFETCH", default_prefetch, 1, 65535));
  const auto retry = pipeline::RetryPolicyFromEnv(env);
  c.max_attempts = retry.max_attempts;
  c.retry_base_delay = retry.base_delay;
  c.retry_max_delay = retry.max_delay;
  c.delivery_limit =
      static_cast<int>(env.Int("DELIVERY_LIMIT", outbox::kDefaultDeliveryLimit, 1, 1000));
  c.queue_prefix = env.String("QUEUE_PREFIX", "");
  c.media_dir = env.String("MEDIA_DIR", "/var/lib/chansum/media");
  c.lease_seconds = static_cast<int>(env.Int("LEASE_SECONDS", 300, 5, 86400));
  c.health_addr = env.String("HEALTH_ADDR", "127.0.0.1");
  c.health_port = static_cast<int>(env.Int("HEALTH_PORT", 0, 0, 65535));
  c.access = http::AccessConfig::FromEnv(env);
  c.shutdown_timeout = service::ServiceOptions::FromEnv(env).shutdown_timeout;
  c.worker_id = WorkerId();
  return c;
}

int RunStageService(const StageDefinition& definition) {
  StopSignal::Install();
  const std::string service(protocol::StageName(definition.stage));
  InitLoggingFromEnv(service);

  ConfigReader env;
  StageDefinition def = definition;
  const HandlerFactory make_handler = def.configure(env, def);  // may set def.short_handler
  const RunnerConfig config = RunnerConfig::FromEnv(env, def);
  const auto pg_config = pg::PgConfig::FromEnv(env);
  const auto amqp_config = amqp::AmqpConfig::FromEnv(env);
  const auto kafka_config = kafka::KafkaConfig::FromEnv(env, service);
  std::optional<docstore::DocstoreConfig> doc_config;
  if (def.needs_docstore) doc_config = docstore::DocstoreConfig::FromEnv(env);
  std::int64_t token_budget = 0;
  if (def.needs_token_budget) {
    token_budget = env.Int("JOB_TOKEN_BUDGET", 0, 0, 1'000'000'000'000LL);
  }
  if (service::ConfigFailed(env)) return 2;
  spdlog::info(
      "starting {}: queue {}, concurrency {}, {} handler (batches of {}), prefetch {}, max "
      "attempts {}, media dir {}",
      service, config.Queue(), config.concurrency, config.short_handler ? "short" : "long",
      config.short_handler ? config.batch_size : 1, config.prefetch, config.max_attempts,
      config.media_dir.string());
  // /metrics and why a dependency fails, beyond this host, only with the token.
  if (config.health_port > 0 &&
      http::ExposureRefused("HEALTH_ADDR", config.health_addr, "its health and metrics endpoints",
                            config.access)) {
    return 2;
  }

  if (!MigrateWithRetry(pg_config)) return 1;
  if (StopSignal::Requested()) return 0;

  std::unique_ptr<docstore::DocStore> docs;
  if (doc_config) {
    auto d = docstore::DocStore::Open(*doc_config);
    if (!d.ok()) {
      spdlog::critical("document store: {}", d.error().ToString());
      return 2;
    }
    docs = std::move(*d);
  }
  std::unique_ptr<pg::ConnectionPool> token_pool;
  std::unique_ptr<TokenBudget> tokens;
  if (def.needs_token_budget) {
    token_pool = std::make_unique<pg::ConnectionPool>(pg_config, 4);
    tokens = std::make_unique<TokenBudget>(*token_pool, token_budget);
    spdlog::info("job token budget: {}",
                 token_budget > 0 ? std::to_string(token_budget) : std::string("unlimited"));
  }

  // Components start in this order and stop in reverse: the consumer stops taking work and its
  // handlers finish (within the bound) first, then the relays publish what they recorded, then
  // the leases stop being renewed and the health listener closes.
  Health health;
  LeaseKeeper leases(config.worker_id, config.lease_seconds);
  service::Service svc(service, service::ServiceOptions{config.shutdown_timeout});
  if (config.health_port > 0) {
    auto& listener = svc.Add(std::make_unique<service::HttpListener>(
        "health endpoint", config.health_addr, config.health_port, /*required=*/false));
    listener.ServeHealth([&svc] { return svc.Readiness(); }, config.access);
  }
  svc.Add(LeaseLoop(pg_config, leases, health));
  if (docs && config.health_port > 0) {
    // Pinged in the background: /readyz never waits for MONGO_TIMEOUT.
    svc.Add(std::make_unique<service::DependencyCheckComponent>("docstore",
                                                                [&docs] { return docs->Ping(); }));
  }
  svc.Add(std::make_unique<outbox::Relays>(outbox::RelaysConfig{
      pg_config, amqp_config, kafka_config, service, config.queue_prefix, config.delivery_limit}));
  auto& consumer = svc.Add(std::make_unique<StageConsumer>(ConsumerDeps{
      config, make_handler, pg_config, amqp_config, docs.get(), tokens.get(), leases, health}));

  if (Status st = svc.Run(); !st.ok()) return 1;
  if (consumer.abandoned() > 0) {
    // The stuck workers cannot be joined: leave without running destructors under them.
    spdlog::info("stopped (abandoned {} handlers past the shutdown bound)", consumer.abandoned());
    // Flush, not spdlog::shutdown(): an abandoned handler may still log before _Exit, and after
    // shutdown() the default logger it would use is gone.
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) { logger->flush(); });
    std::_Exit(0);
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace chansum::stage
