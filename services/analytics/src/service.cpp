#include "service.hpp"

#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "chansum/common/logging.hpp"
#include "chansum/common/signals.hpp"
#include "chansum/http/exposure.hpp"
#include "chansum/http/readiness.hpp"
#include "chansum/kafka/admin.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/service/backoff.hpp"
#include "chansum/service/check.hpp"
#include "chansum/service/http_listener.hpp"
#include "chansum/service/service.hpp"
#include "event.hpp"
#include "http.hpp"
#include "store.hpp"

namespace chansum::analytics {
AnalyticsConfig AnalyticsConfig::FromEnv(ConfigReader& env) {
  AnalyticsConfig c;
  c.queue_prefix = env.String("QUEUE_PREFIX", "");
  c.http_addr = env.String("ANALYTICS_HTTP_ADDR", "127.0.0.1");
  c.http_port = static_cast<int>(env.Int("ANALYTICS_HTTP_PORT", 8090, 0, 65535));
  c.access = http::AccessConfig::FromEnv(env);
  c.db_pool_size = static_cast<int>(env.Int("ANALYTICS_DB_POOL_SIZE", 4, 1, 64));
  c.topic_partitions = static_cast<int>(env.Int("ANALYTICS_TOPIC_PARTITIONS", 3, 1, 1000));
  c.service = service::ServiceOptions::FromEnv(env);
  c.poll_timeout = env.Duration("ANALYTICS_POLL_TIMEOUT", std::chrono::milliseconds(500));
  c.kafka = kafka::KafkaConfig::FromEnv(env, "analytics");
  c.pg = pg::PgConfig::FromEnv(env);
  return c;
}

std::vector<std::string> AnalyticsConfig::Topics() const {
  return protocol::EventTopics(queue_prefix);
}

// While no record arrives, Kafka is asked for metadata this often (readiness), waiting this long.
constexpr std::chrono::seconds kKafkaPingInterval{2};
constexpr std::chrono::seconds kKafkaPingTimeout{2};
// A consumer loop that has not come round for this long (ms) makes analytics not ready.
constexpr std::int64_t kLoopStallMs = 10000;

struct Service::Impl {
  explicit Impl(AnalyticsConfig c)
      : config(std::move(c)),
        pool(config.pg, static_cast<std::size_t>(config.db_pool_size), std::chrono::seconds(5)) {}

  AnalyticsConfig config;
  pg::ConnectionPool pool;
  std::atomic<bool> schema_ok{false};
  std::atomic<bool> kafka_ok{false};
  // steady_clock time (ms) the consumer loop last came round: a loop stuck in a Kafka call (a
  // synchronous offset commit waits for the broker without a timeout) is not ready either.
  std::atomic<std::int64_t> loop_beat_ms{0};

  static std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void Beat() { loop_beat_ms = NowMs(); }
  Status KafkaStatus() const {
    if (!kafka_ok.load()) return http::FlagCheck(false, "not consuming: Kafka does not answer");
    return http::FlagCheck(NowMs() - loop_beat_ms.load() < kLoopStallMs,
                           "the consumer loop is stuck in a Kafka call");
  }
  bool KafkaOk() const { return KafkaStatus().ok(); }
  std::atomic<bool> apply_ok{true};  // false while applying events fails on PostgreSQL

  mutable std::mutex mu;
  std::unique_ptr<kafka::Consumer> consumer;  // swapped under mu; used by the consumer thread
  ServiceStats stats;                         // guarded by mu

  void Count(std::uint64_t ServiceStats::*field) {
    std::lock_guard lock(mu);
    ++(stats.*field);
  }

  Status PgPing() {
    return pg::WithTransaction(pool, [](pqxx::work& txn) { txn.exec("SELECT 1"); });
  }
  bool PgLive() { return PgPing().ok(); }

  // `pg`: the last answer of the background PostgreSQL check (Run).
  nlohmann::json Readiness(Status pg) const {
    if (pg.ok()) pg = http::FlagCheck(apply_ok.load(), "applying the last event failed");
    return http::ReadinessBody(
        {{"postgres", std::move(pg)},
         {"schema", http::FlagCheck(schema_ok.load(), "the analytics schema is not applied yet")},
         {"kafka", KafkaStatus()}});
  }

  // Applies the schema, waiting while PostgreSQL is down. False when stopped or fatal (`fatal`).
  bool MigrateWithRetry(const std::function<bool()>& should_stop, bool* fatal) {
    service::Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(10), should_stop);
    int permanent_failures = 0;
    while (!should_stop()) {
      auto conn = pg::Connect(config.pg);
      if (!conn.ok()) {
        spdlog::warn("PostgreSQL unavailable ({}), retrying", conn.error().message);
        if (!backoff.Wait()) return false;
        continue;
      }
      auto applied = Migrate(**conn);
      if (applied.ok()) {
        spdlog::info("analytics schema ready ({} migrations applied now)", *applied);
        return true;
      }
      const Error& e = applied.error();
      // Drift or an invalid list cannot heal by waiting. Other permanent errors can be a race
      // with another migrator creating schema_migrations (it uses a different advisory lock), so
      // they get a few more tries.
      if (e.code == "pg_migration_drift" || e.code == "pg_migration_invalid" ||
          (!e.transient() && ++permanent_failures > 5)) {
        spdlog::critical("analytics schema migration failed: {}", e.ToString());
        *fatal = true;
        return false;
      }
      spdlog::warn("analytics schema migration failed ({}), retrying", e.ToString());
      if (!backoff.Wait()) return false;
    }
    return false;
  }

  // Stores a record that cannot be applied. Error = PostgreSQL could not store it either.
  Status Reject(const kafka::Record& rec, const RecordMeta& meta, const std::string& reason) {
    spdlog::warn("rejecting record {}[{}]@{}: {}", rec.topic, rec.partition, rec.offset, reason);
    auto stored = pg::WithTransaction(
        pool, [&](pqxx::work& txn) { return StoreReject(txn, meta, rec.payload, reason); });
    if (!stored.ok()) return stored.error();
    Count(&ServiceStats::rejected);
    return OkStatus();
  }

  // OK: the record is done (applied, duplicate or rejected) and its offset may be committed.
  Status Handle(const kafka::Record& rec) {
    const RecordMeta meta{rec.topic, rec.partition, rec.offset, rec.key};
    auto event = ParseEvent(rec.payload, rec.topic, config.queue_prefix);
    if (!event.ok()) return Reject(rec, meta, event.error().message);
    ScopedLogContext log_ctx({{"job_id", event->job_id},
                              {"video_id", event->video_id},
                              {"trace_id", event->trace_id},
                              {"event_id", event->event_id}});
    auto applied = pg::WithTransaction(
        pool, [&](pqxx::work& txn) { return ApplyEvent(txn, *event, rec.payload, meta); });
    if (applied.ok()) {
      if (*applied) {
        Count(&ServiceStats::applied);
        spdlog::debug("applied {} from {}[{}]@{}", event->type, rec.topic, rec.partition,
                      rec.offset);
      } else {
        Count(&ServiceStats::duplicates);
        spdlog::info("duplicate event {} ({}) ignored", event->event_id, event->type);
      }
      return OkStatus();
    }
    if (applied.error().transient()) return applied.error();
    // PostgreSQL refused this event's values (e.g. a timestamp out of its range): it would fail
    // the same way every time, so it is rejected with the reason rather than retried forever.
    return Reject(rec, meta, "database refused the event: " + applied.error().message);
  }

  void DropConsumer() {
    std::unique_ptr<kafka::Consumer> c;
    {
      std::lock_guard lock(mu);
      c = std::move(consumer);
    }
    if (c) {
      if (auto s = c->Close(); !s.ok())
        spdlog::warn("closing Kafka consumer: {}", s.error().message);
    }
  }

  void ConsumeLoop(const std::function<bool()>& should_stop) {
    const auto topics = config.Topics();
    kafka::KafkaConfig probe_config = config.kafka;
    probe_config.message_timeout = std::chrono::seconds(5);
    service::Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(10), should_stop);
    bool need_probe = true;
    // Whether Kafka answered lately: a record or a metadata round trip (Ping) every
    // kKafkaPingInterval while idle; librdkafka alone reports a stopped broker late or never.
    bool reachable = true;
    auto last_contact = std::chrono::steady_clock::now();
    kafka::Consumer* c = nullptr;
    auto failed_at = std::chrono::steady_clock::now();
    while (!should_stop()) {
      if (need_probe) {
        // Reachability check that also makes sure the topics exist (idempotent).
        Status st = kafka::CreateTopics(probe_config, topics, config.topic_partitions, 1);
        if (!st.ok()) {
          kafka_ok = false;
          spdlog::warn("Kafka unavailable ({}), retrying", st.error().message);
          if (!backoff.Wait()) break;
          continue;
        }
        need_probe = false;
      }
      if (c == nullptr) {
        auto created = kafka::Consumer::Create(config.kafka, {.group_id = config.GroupId()});
        Status st = created.ok() ? (*created)->Subscribe(topics) : Status(created.error());
        if (!st.ok()) {
          kafka_ok = false;
          spdlog::warn("cannot start the Kafka consumer ({}), retrying", st.error().message);
          if (!backoff.Wait()) break;
          continue;
        }
        std::lock_guard lock(mu);
        consumer = std::move(*created);
        c = consumer.get();
        spdlog::info("consuming {} topics as group {}", topics.size(), config.GroupId());
        reachable = true;
        last_contact = std::chrono::steady_clock::now();
      }
      kafka_ok = reachable;
      Beat();
      auto rec = c->Poll(config.poll_timeout);
      Beat();
      if (!rec.ok()) {
        kafka_ok = false;
        spdlog::warn("Kafka poll: {}", rec.error().ToString());
        if (!rec.error().transient()) {
          DropConsumer();
          c = nullptr;
        }
        need_probe = true;
        if (!backoff.Wait()) break;
        continue;
      }
      if (!rec->has_value()) {
        if (std::chrono::steady_clock::now() - last_contact >= kKafkaPingInterval) {
          Status ping = c->Ping(kKafkaPingTimeout);
          last_contact = std::chrono::steady_clock::now();
          if (!ping.ok() && reachable) {
            spdlog::warn("Kafka does not answer ({}): not ready until it does",
                         ping.error().message);
          } else if (ping.ok() && !reachable) {
            spdlog::info("Kafka answers again");
          }
          reachable = ping.ok();
          kafka_ok = reachable;
        }
        // Ready again once a record applies, or after a quiet spell with partitions assigned
        // (the record that failed would have come back by then).
        if (!apply_ok && std::chrono::steady_clock::now() - failed_at > std::chrono::seconds(5) &&
            !c->Assignment().empty()) {
          apply_ok = true;
        }
        continue;
      }
      reachable = true;
      kafka_ok = true;
      last_contact = std::chrono::steady_clock::now();
      const kafka::Record& record = **rec;
      Status handled = Handle(record);
      if (!handled.ok()) {
        // Not applied: leave the group without committing, so this record (and everything after
        // it) comes again from the last committed offset, to this member or another one.
        apply_ok = false;
        Count(&ServiceStats::redeliveries);
        spdlog::warn("record {}[{}]@{} not applied ({}); it will be redelivered", record.topic,
                     record.partition, record.offset, handled.error().ToString());
        DropConsumer();
        c = nullptr;
        while (!PgLive()) {
          if (!backoff.Wait()) break;
        }
        failed_at = std::chrono::steady_clock::now();
        continue;
      }
      apply_ok = true;
      backoff.Reset();
      // Only after the DB commit: a crash in between redelivers the record, which is then a
      // duplicate (analytics_events primary key) and changes nothing.
      if (Status st = c->Commit(record); !st.ok()) {
        Count(&ServiceStats::commit_failures);
        spdlog::warn("offset commit failed ({}); the event is applied, a redelivery is a no-op",
                     st.error().message);
      }
    }
    DropConsumer();
    kafka_ok = false;
  }
};

Service::Service(AnalyticsConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Service::~Service() = default;

bool Service::Ready() const noexcept {
  return impl_->schema_ok.load() && impl_->KafkaOk() && impl_->apply_ok.load();
}

ServiceStats Service::Stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

std::vector<kafka::TopicPartition> Service::Assignment() const {
  std::lock_guard lock(impl_->mu);
  return impl_->consumer ? impl_->consumer->Assignment() : std::vector<kafka::TopicPartition>{};
}

int Service::Run(const std::function<bool()>& should_stop) {
  Impl& impl = *impl_;
  const AnalyticsConfig& config = impl.config;
  spdlog::info("analytics starting: group {}, topics prefix \"{}\", database {}, brokers {}",
               config.GroupId(), config.queue_prefix, pg::RedactConninfo(config.pg.url),
               config.kafka.brokers);
  // An open analytics API beyond this host is a configuration error.
  if (http::ExposureRefused("ANALYTICS_HTTP_ADDR", config.http_addr, "the analytics API",
                            config.access)) {
    return 2;
  }

  // The HTTP API (with /readyz) and the PostgreSQL check run as components around the consumer,
  // which runs on this thread until `should_stop`.
  service::Service svc("analytics", config.service);
  // /readyz never waits for PostgreSQL: it reads the last answer of this check.
  auto& pg_check = svc.Add(std::make_unique<service::DependencyCheckComponent>(
      "postgres", [&impl] { return impl.PgPing(); }));
  auto& api =
      svc.Add(std::make_unique<service::HttpListener>("http", config.http_addr, config.http_port));
  ApiDeps deps;
  deps.pool = &impl.pool;
  deps.readiness = [&impl, &pg_check] { return impl.Readiness(pg_check.Last()); };
  deps.schema_ready = [&impl] { return impl.schema_ok.load(); };
  config.access.ApplyTo(deps.server, config.http_addr);
  RegisterRoutes(api.server(), deps);
  if (!svc.Start().ok()) return 1;  // logged by the service: cannot listen
  bound_port_ = api.port();
  spdlog::info("analytics HTTP on http://{}:{}", config.http_addr, api.port());

  bool fatal = false;
  if (impl.MigrateWithRetry(should_stop, &fatal)) {
    impl.schema_ok = true;
    impl.ConsumeLoop(should_stop);
  }
  svc.Stop();
  bound_port_ = 0;
  const ServiceStats s = Stats();
  spdlog::info("analytics stopped{}: {} applied, {} duplicates, {} rejected, {} redeliveries",
               fatal ? " after a fatal error" : " cleanly", s.applied, s.duplicates, s.rejected,
               s.redeliveries);
  return fatal ? 1 : 0;
}

int Main() {
  StopSignal::Install();
  InitLoggingFromEnv("analytics");
  ConfigReader env;
  AnalyticsConfig config = AnalyticsConfig::FromEnv(env);
  if (service::ConfigFailed(env)) return 2;
  Service service(std::move(config));
  return service.Run([] { return StopSignal::Requested(); });
}

}  // namespace chansum::analytics
