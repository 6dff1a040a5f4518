#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "chansum/amqp/config.hpp"
#include "chansum/amqp/connection.hpp"
#include "chansum/amqp/consumer.hpp"
#include "chansum/amqp/topology.hpp"
#include "chansum/common/logging.hpp"
#include "chansum/common/signals.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/http/exposure.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/http/readiness.hpp"
#include "chansum/kafka/config.hpp"
#include "chansum/metrics/metrics.hpp"
#include "chansum/outbox/amqp_sink.hpp"
#include "chansum/outbox/kafka_sink.hpp"
#include "chansum/outbox/metrics.hpp"
#include "chansum/outbox/outbox.hpp"
#include "chansum/outbox/topology.hpp"
#include "chansum/pg/migrate.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/stage/leases.hpp"
#include "chansum/stage/processor.hpp"
#include "chansum/stage/stage.hpp"

namespace chansum::stage {
namespace {

using Clock = std::chrono::steady_clock;

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

// Sleeps with exponential backoff and jitter; returns false when a stop was requested.
class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max)
      : first_(first), max_(max), next_(first) {}
  bool Wait() {
    thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    const auto d = std::chrono::milliseconds(
        static_cast<long>(static_cast<double>(next_.count()) * jitter(rng)));
    next_ = std::min(next_ * 2, max_);
    return !StopSignal::WaitFor(d);
  }
  void Reset() { next_ = first_; }

 private:
  std::chrono::milliseconds first_, max_, next_;
};

struct Work {
  std::uint64_t generation = 0;  // which AMQP connection delivered it
  std::uint64_t tag = 0;
  std::string body;
};
struct Done {
  std::uint64_t generation = 0;
  std::uint64_t tag = 0;
  Disposition disposition = Disposition::kAck;
};

// Hands deliveries from the AMQP thread to workers and results back.
class Exchange {
 public:
  // The AMQP thread sleeps on this eventfd and the consumer's socket together, so a finished
  // delivery is acked at once (with prefetch = concurrency the broker sends the next one only
  // then) instead of after the consumer's poll interval.
  Exchange() : wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~Exchange() {
    if (wake_fd_ >= 0) close(wake_fd_);
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;
  [[nodiscard]] int wake_fd() const noexcept { return wake_fd_; }
  void DrainWake() {
    std::uint64_t n = 0;
    if (wake_fd_ >= 0) (void)!read(wake_fd_, &n, sizeof(n));
  }
  void PushWork(Work w) {
    {
      std::lock_guard lock(mu_);
      work_.push_back(std::move(w));
    }
    work_cv_.notify_one();
  }
  // Blocks until work arrives or `closed`; then takes every delivery that is ready, up to `max`
  // (never waiting for more: one delivery alone starts at once). Empty when closed and empty.
  std::vector<Work> PopBatch(int max) {
    std::unique_lock lock(mu_);
    work_cv_.wait(lock, [&] { return closed_ || !work_.empty(); });
    std::vector<Work> batch;
    while (!work_.empty() && static_cast<int>(batch.size()) < max) {
      batch.push_back(std::move(work_.front()));
      work_.pop_front();
      ++busy_;
      busy_tags_.emplace(batch.back().generation, batch.back().tag);
    }
    return batch;
  }
  // Deliveries not yet picked up by a worker (handed back to the broker at shutdown).
  std::deque<Work> TakeUnstarted() {
    std::lock_guard lock(mu_);
    return std::exchange(work_, {});
  }
  void PushDone(const std::vector<Done>& done) {
    {
      std::lock_guard lock(mu_);
      for (const auto& d : done) {
        done_.push_back(d);
        --busy_;
        busy_tags_.erase({d.generation, d.tag});
      }
    }
    const std::uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof(one));
  }
  // Deliveries a worker is processing right now: (generation, tag).
  std::set<std::pair<std::uint64_t, std::uint64_t>> BusyTags() {
    std::lock_guard lock(mu_);
    return busy_tags_;
  }
  int Busy() {
    std::lock_guard lock(mu_);
    return busy_;
  }
  std::deque<Done> TakeDone() {
    std::lock_guard lock(mu_);
    return std::exchange(done_, {});
  }
  int InFlight() {
    std::lock_guard lock(mu_);
    return static_cast<int>(work_.size()) + busy_;
  }
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    work_cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<Work> work_;
  std::deque<Done> done_;
  int busy_ = 0;
  std::set<std::pair<std::uint64_t, std::uint64_t>> busy_tags_;
  bool closed_ = false;
  int wake_fd_ = -1;
};

// The runner's counters on /metrics, one child per stage looked up once.
struct StageMetrics {
  explicit StageMetrics(const std::string& stage) {
    auto& r = metrics::Registry::Default();
    consumed = &r.AddCounter("chansum_stage_messages_consumed_total",
                             "Commands delivered to this process by RabbitMQ, by stage.", {"stage"})
                    .Labels({stage});
    acked = &r.AddCounter("chansum_stage_messages_acked_total",
                          "Commands acked after their outcome was committed, by stage.", {"stage"})
                 .Labels({stage});
    requeued = &r.AddCounter("chansum_stage_messages_requeued_total",
                             "Commands nacked back to the queue (nothing could be recorded, or "
                             "shutdown), by stage.",
                             {"stage"})
                    .Labels({stage});
    retried = &r.AddCounter("chansum_stage_messages_retried_total",
                            "Commands whose transient failure scheduled a delayed retry, by stage.",
                            {"stage"})
                   .Labels({stage});
    dead_lettered = &r.AddCounter("chansum_stage_messages_dead_lettered_total",
                                  "Malformed or misrouted commands this process sent to "
                                  "<queue>.dlq, by stage.",
                                  {"stage"})
                         .Labels({stage});
    outcomes = &r.AddCounter("chansum_stage_outcomes_total",
                             "Processed commands by stage and outcome (done, retried, failed, "
                             "skipped, duplicate, dead_lettered, requeued).",
                             {"stage", "outcome"});
    in_flight = &r.AddGauge("chansum_stage_in_flight",
                            "Deliveries held by this process (queued for or being worked on by a "
                            "worker), by stage.",
                            {"stage"})
                     .Labels({stage});
    workers =
        &r.AddGauge("chansum_stage_workers", "Worker threads (the stage's concurrency).", {"stage"})
             .Labels({stage});
    ack_frames = &r.AddCounter("chansum_stage_ack_frames_total",
                               "basic.ack frames sent (one multiple=true frame acks a run of "
                               "deliveries), by stage.",
                               {"stage"})
                      .Labels({stage});
    batch_size = &r.AddHistogram("chansum_stage_batch_size",
                                 "Deliveries a worker took and recorded together, by stage.",
                                 {"stage"}, {1, 2, 5, 10, 20, 50, 100, 200, 500})
                      .Labels({stage});
  }
  metrics::Counter* consumed;
  metrics::Counter* acked;
  metrics::Counter* requeued;
  metrics::Counter* retried;
  metrics::Counter* dead_lettered;
  metrics::Family<metrics::Counter>* outcomes;
  metrics::Gauge* in_flight;
  metrics::Gauge* workers;
  metrics::Counter* ack_frames;
  metrics::Histogram* batch_size;
};

struct Health {
  std::atomic<bool> amqp_ok{false};
  std::atomic<int> pg_workers_ok{0};
  std::atomic<bool> pg_probe_ok{false};  // the lease thread's own connection answered lately
};

std::unique_ptr<pqxx::connection> ConnectWithRetry(const pg::PgConfig& config, const char* who) {
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(10));
  while (!StopSignal::Requested()) {
    auto conn = pg::Connect(config);
    if (conn.ok()) return std::move(*conn);
    spdlog::warn("{}: PostgreSQL unavailable ({}), retrying", who, conn.error().message);
    if (!backoff.Wait()) break;
  }
  return nullptr;
}

void WorkerLoop(const RunnerConfig& config, const HandlerFactory& make_handler,
                const pg::PgConfig& pg_config, docstore::DocStore* docs, Exchange& exchange,
                Health& health, StageMetrics& stage_metrics, LeaseKeeper& leases) {
  Processor processor(config, make_handler(), docs, [] { return StopSignal::Requested(); });
  processor.SetLeaseKeeper(&leases);
  // Connect before the first message arrives, so readiness reflects the database.
  std::unique_ptr<pqxx::connection> conn = ConnectWithRetry(pg_config, "worker");
  if (conn) health.pg_workers_ok.fetch_add(1);
  // A short stage takes what is ready up to a batch; a long one a delivery at a time (a second
  // one would wait behind the first instead of going to an idle worker).
  const int batch_size = config.short_handler ? config.batch_size : 1;
  for (auto work = exchange.PopBatch(batch_size); !work.empty();
       work = exchange.PopBatch(batch_size)) {
    std::vector<Done> done;
    for (const auto& w : work) done.push_back(Done{w.generation, w.tag, Disposition::kRequeue});
    if (!conn || !conn->is_open()) {
      if (conn) health.pg_workers_ok.fetch_sub(1);
      conn = ConnectWithRetry(pg_config, "worker");
      if (conn) health.pg_workers_ok.fetch_add(1);
    }
    if (conn) {
      std::vector<std::string> bodies;
      bodies.reserve(work.size());
      for (auto& w : work) bodies.push_back(std::move(w.body));
      const auto outcomes = processor.ProcessBatch(*conn, bodies);
      bool requeued = false;
      for (std::size_t i = 0; i < outcomes.size(); ++i) {
        const auto& outcome = outcomes[i];
        done[i].disposition = outcome.disposition;
        stage_metrics.outcomes->Labels({config.service, outcome.kind}).Inc();
        if (std::string_view(outcome.kind) == "retried") stage_metrics.retried->Inc();
        if (std::string_view(outcome.kind) == "dead_lettered") stage_metrics.dead_lettered->Inc();
        requeued = requeued || outcome.disposition == Disposition::kRequeue;
      }
      stage_metrics.batch_size->Observe(static_cast<double>(work.size()));
      if (requeued) {
        if (!conn->is_open()) {
          health.pg_workers_ok.fetch_sub(1);
          conn.reset();
        }
        StopSignal::WaitFor(std::chrono::milliseconds(500));  // don't spin on a broken database
      }
    }
    exchange.PushDone(done);
  }
  if (conn) health.pg_workers_ok.fetch_sub(1);
}

// Acks what the workers finished, as few frames as possible: the longest run of outstanding
// deliveries (in tag order) that are all finished is acked with ONE basic.ack multiple=true; a
// finished delivery behind one still in progress is acked on its own (so a long handler never
// holds back the acks, and with them the prefetch window, of the others). Nothing is acked that
// a worker has not returned, and a worker returns kAck only after its transaction committed.
class Acker {
 public:
  void Delivered(std::uint64_t tag) { outstanding_.insert(tag); }
  // A delivery handed back outside Settle (shutdown).
  void Forget(std::uint64_t tag) {
    outstanding_.erase(tag);
    acked_.erase(tag);
  }
  void Reset() {
    outstanding_.clear();
    acked_.clear();
  }
  // Applies `done` (of the current connection); false when the connection failed.
  Status Settle(amqp::Consumer& consumer, const std::deque<Done>& done, StageMetrics& m) {
    for (const auto& d : done) {
      if (d.disposition == Disposition::kAck) {
        acked_.insert(d.tag);
        continue;
      }
      outstanding_.erase(d.tag);
      if (auto st = consumer.Nack(d.tag, /*requeue=*/true); !st.ok()) return st;
      m.requeued->Inc();
    }
    std::optional<std::uint64_t> upto;
    int run = 0;
    for (auto tag : outstanding_) {
      if (!acked_.count(tag)) break;
      upto = tag;
      ++run;
    }
    if (upto) {
      if (auto st = consumer.Ack(*upto, /*multiple=*/true); !st.ok()) return st;
      outstanding_.erase(outstanding_.begin(), outstanding_.upper_bound(*upto));
      acked_.erase(acked_.begin(), acked_.upper_bound(*upto));
      m.acked->Inc(run);
      m.ack_frames->Inc();
    }
    for (auto tag : acked_) {
      if (auto st = consumer.Ack(tag); !st.ok()) return st;
      outstanding_.erase(tag);
      m.acked->Inc();
      m.ack_frames->Inc();
    }
    acked_.clear();
    return OkStatus();
  }

 private:
  std::set<std::uint64_t> outstanding_;  // delivered, not yet acked or nacked
  std::set<std::uint64_t> acked_;        // finished with kAck, waiting for their frame
};

// Renews the leases of the work in progress every lease/3 and, every second, checks PostgreSQL on
// its own connection, so readiness turns false during an outage even when no worker is busy.
// Runs on its own thread (never the AMQP I/O thread) until `stop`.
void LeaseLoop(const pg::PgConfig& pg_config, LeaseKeeper& leases, Health& health,
               const std::atomic<bool>& stop) {
  std::unique_ptr<pqxx::connection> conn;
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(5));
  auto last_renewal = Clock::now() - leases.Interval();
  while (!stop.load()) {
    try {
      if (!conn) {
        auto c = pg::Connect(pg_config);
        if (!c.ok()) throw std::runtime_error(c.error().message);
        conn = std::move(*c);
      }
      {
        pqxx::nontransaction probe(*conn);
        probe.exec("SELECT 1");
      }
      health.pg_probe_ok = true;
      backoff.Reset();
      if (Clock::now() - last_renewal >= leases.Interval()) {
        const int held = leases.Held();
        const int renewed = leases.RenewOnce(*conn);
        if (held > 0) spdlog::debug("renewed {} of {} leases", renewed, held);
        last_renewal = Clock::now();
      }
    } catch (const std::exception& e) {
      if (health.pg_probe_ok.exchange(false) || conn) {
        spdlog::warn("lease/probe connection: PostgreSQL unavailable ({})", e.what());
      }
      conn.reset();
      for (int i = 0; i < 50 && !stop.load(); ++i) {  // backoff, but stop promptly
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      continue;
    }
    for (int i = 0; i < 50 && !stop.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

std::function<std::unique_ptr<pqxx::connection>()> RelayConnector(const pg::PgConfig& pg_config) {
  return [pg_config]() -> std::unique_ptr<pqxx::connection> {
    auto c = pg::Connect(pg_config);
    if (!c.ok()) throw std::runtime_error(c.error().message);
    return std::move(*c);
  };
}

// Two relays, one per destination, so that a Kafka outage (which blocks a batch until its
// delivery reports time out) never delays the commands that drive the pipeline, and vice versa.
void AmqpRelayLoop(const pg::PgConfig& pg_config, const amqp::AmqpConfig& amqp_config,
                   const RunnerConfig& config, const std::atomic<bool>& stop) {
  outbox::Relay relay(RelayConnector(pg_config),
                      std::make_unique<outbox::AmqpSink>(amqp_config, config.service + "-relay",
                                                         [&config](amqp::Connection& c) {
                                                           return outbox::DeclarePipelineQueues(
                                                               c, config.queue_prefix,
                                                               config.delivery_limit);
                                                         }),
                      nullptr, outbox::RelayOptions{});
  relay.Run(stop);
}

void KafkaRelayLoop(const pg::PgConfig& pg_config, const kafka::KafkaConfig& kafka_config,
                    const RunnerConfig& config, const std::atomic<bool>& stop) {
  outbox::KafkaSinkOptions options;
  options.topics = protocol::EventTopics(config.queue_prefix);
  options.should_stop = [&stop] { return stop.load(); };
  outbox::Relay relay(RelayConnector(pg_config), nullptr,
                      std::make_unique<outbox::KafkaSink>(kafka_config, std::move(options)),
                      outbox::RelayOptions{});
  relay.Run(stop);
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
  c.max_attempts = static_cast<int>(env.Int("MAX_ATTEMPTS", 5, 1, 100));
  c.retry_base_delay = env.Duration("RETRY_BASE_DELAY", std::chrono::seconds(1));
  c.retry_max_delay = env.Duration("RETRY_MAX_DELAY", std::chrono::seconds(60));
  c.delivery_limit =
      static_cast<int>(env.Int("DELIVERY_LIMIT", outbox::kDefaultDeliveryLimit, 1, 1000));
  c.queue_prefix = env.String("QUEUE_PREFIX", "");
  c.media_dir = env.String("MEDIA_DIR", "/var/lib/chansum/media");
  c.lease_seconds = static_cast<int>(env.Int("LEASE_SECONDS", 300, 5, 86400));
  c.health_addr = env.String("HEALTH_ADDR", "127.0.0.1");
  c.health_port = static_cast<int>(env.Int("HEALTH_PORT", 0, 0, 65535));
  c.shutdown_timeout = std::chrono::seconds(env.Int("SHUTDOWN_TIMEOUT_SECONDS", 30, 1, 3600));
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
  try {
    env.Finish();
  } catch (const ConfigError& e) {
    spdlog::critical("{}", e.what());
    return 2;
  }
  spdlog::info(
      "starting {}: queue {}, concurrency {}, {} handler (batches of {}), prefetch {}, max "
      "attempts {}, media dir {}",
      service, config.Queue(), config.concurrency, config.short_handler ? "short" : "long",
      config.short_handler ? config.batch_size : 1, config.prefetch, config.max_attempts,
      config.media_dir.string());
  if (config.health_port > 0) {
    http::WarnIfExposed("HEALTH_ADDR", config.health_addr, "its health endpoints", false);
  }

  // Schema first (idempotent, under an advisory lock), retrying while PostgreSQL is down.
  {
    Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(10));
    int permanent_failures = 0;
    while (!StopSignal::Requested()) {
      auto conn = ConnectWithRetry(pg_config, "migrate");
      if (!conn) break;
      auto applied = store::Migrate(*conn);
      if (applied.ok()) {
        if (*applied > 0) spdlog::info("applied {} schema migrations", *applied);
        break;
      }
      spdlog::error("schema migration failed: {}", applied.error().ToString());
      // Processes migrating different sets at once can collide creating schema_migrations
      // (a duplicate-key error on a fresh database): a few tries settle it; after that a
      // permanent error is real.
      if ((!applied.error().transient() && ++permanent_failures >= 5) || !backoff.Wait()) {
        return 1;
      }
    }
  }
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

  Health health;
  // Readiness pings the document store in the background: /readyz never waits for MONGO_TIMEOUT.
  std::optional<http::DependencyCheck> docs_check;
  if (docs && config.health_port > 0) {
    docs_check.emplace("docstore", [&docs] { return docs->Ping(); });
  }
  LeaseKeeper leases(config.worker_id, config.lease_seconds);
  std::atomic<bool> lease_stop{false};
  std::thread lease_thread([&] { LeaseLoop(pg_config, leases, health, lease_stop); });
  std::atomic<bool> relay_stop{false};
  std::thread relay([&] { AmqpRelayLoop(pg_config, amqp_config, config, relay_stop); });
  std::thread kafka_relay([&] { KafkaRelayLoop(pg_config, kafka_config, config, relay_stop); });

  std::unique_ptr<httplib::Server> health_server;
  std::thread health_thread;
  if (config.health_port > 0) {
    health_server = std::make_unique<httplib::Server>();
    http::ConfigureJsonServer(*health_server, http::ServerOptions{64 * 1024, false});
    http::AddHealthRoutes(*health_server, [&] {
      std::vector<std::pair<std::string, Status>> checks = {
          {"rabbitmq", http::FlagCheck(health.amqp_ok.load(), "the consumer is not connected")},
          {"postgres", !health.pg_probe_ok.load()
                           ? http::FlagCheck(false, "the lease thread's SELECT 1 does not succeed")
                           : http::FlagCheck(health.pg_workers_ok.load() > 0,
                                             "no worker holds an open connection")}};
      if (docs_check) checks.emplace_back("docstore", docs_check->Last());
      return http::ReadinessBody(checks);
    });
    health_thread = std::thread([&] {
      if (!health_server->listen(config.health_addr.c_str(), config.health_port)) {
        spdlog::error("health endpoint: cannot listen on {}:{}", config.health_addr,
                      config.health_port);
      }
    });
  }

  Exchange exchange;
  StageMetrics stage_metrics(service);
  stage_metrics.workers->Set(config.concurrency);
  const int in_flight_collector = metrics::Registry::Default().AddCollector(
      [&] { stage_metrics.in_flight->Set(exchange.InFlight()); });
  const int backlog_collector = outbox::RegisterBacklogMetrics(RelayConnector(pg_config));
  std::vector<std::thread> workers;
  for (int i = 0; i < config.concurrency; ++i) {
    workers.emplace_back([&] {
      WorkerLoop(config, make_handler, pg_config, docs.get(), exchange, health, stage_metrics,
                 leases);
    });
  }

  // The AMQP I/O thread: this one. It owns the consumer connection, keeps heartbeats serviced by
  // never blocking for long, hands deliveries to the workers and acks what they finish.
  std::uint64_t generation = 0;
  std::unique_ptr<amqp::Consumer> consumer;
  Acker acker;
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(15));
  auto drop_consumer = [&](const std::string& why) {
    spdlog::warn("RabbitMQ consumer lost: {}", why);
    consumer.reset();
    acker.Reset();
    health.amqp_ok = false;
    ++generation;  // acks for deliveries of the old connection are void; they will be redelivered
    for (auto& w : exchange.TakeUnstarted()) (void)w;
  };
  auto settle = [&] {
    std::deque<Done> done;
    for (const auto& d : exchange.TakeDone()) {
      if (consumer && d.generation == generation) done.push_back(d);
    }
    if (done.empty() || !consumer) return;
    if (Status st = acker.Settle(*consumer, done, stage_metrics); !st.ok()) {
      drop_consumer(st.error().message);
    }
  };
  while (!StopSignal::Requested()) {
    if (!consumer) {
      auto conn = amqp::Connection::Open(amqp_config, service + "-topology");
      Status declared = conn.ok() ? outbox::DeclarePipelineQueues(**conn, config.queue_prefix,
                                                                  config.delivery_limit)
                                  : Status(conn.error());
      if (!declared.ok()) {
        spdlog::warn("RabbitMQ unavailable ({}), retrying", declared.error().message);
        if (!backoff.Wait()) break;
        continue;
      }
      amqp::ConsumerOptions options;
      options.queue = config.Queue();
      options.prefetch = static_cast<std::uint16_t>(config.prefetch);
      auto c = amqp::Consumer::Open(amqp_config, service + "-consumer", options);
      if (!c.ok()) {
        spdlog::warn("cannot consume from {} ({}), retrying", config.Queue(), c.error().message);
        if (!backoff.Wait()) break;
        continue;
      }
      consumer = std::move(*c);
      health.amqp_ok = true;
      backoff.Reset();
      spdlog::info("consuming from {} with prefetch {}", config.Queue(), config.prefetch);
    }
    settle();
    if (!consumer) continue;
    if (consumer->WaitReadable(std::chrono::milliseconds(50), exchange.wake_fd())) {
      exchange.DrainWake();
      continue;  // a worker finished: settle it first
    }
    auto delivery = consumer->Next(std::chrono::milliseconds(0));
    if (!delivery.ok()) {
      drop_consumer(delivery.error().message);
      continue;
    }
    if (delivery->has_value()) {
      stage_metrics.consumed->Inc();
      acker.Delivered((*delivery)->delivery_tag);
      exchange.PushWork(Work{generation, (*delivery)->delivery_tag, std::move((*delivery)->body)});
    }
  }

  // Shutdown: stop taking work (basic.cancel), give back what no worker started, and let in-flight
  // work finish (handlers see should_stop and return early) for at most SHUTDOWN_TIMEOUT_SECONDS
  // while this thread keeps the connection serviced and acks what finishes. Past the bound, the
  // deliveries still in progress are nacked with requeue (the broker redelivers them; their rows
  // go back to `pending`, their leases released) and the process exits anyway. The
  // relays stop last so the outcome rows written by the last workers are published too.
  spdlog::info("stopping: {} deliveries in flight (bound {} s)", exchange.InFlight(),
               config.shutdown_timeout.count());
  health.amqp_ok = false;
  if (consumer) {
    if (auto st = consumer->Cancel(); !st.ok()) drop_consumer(st.error().message);
  }
  for (const auto& w : exchange.TakeUnstarted()) {
    acker.Forget(w.tag);
    if (consumer && w.generation == generation && consumer->Nack(w.tag, /*requeue=*/true).ok()) {
      stage_metrics.requeued->Inc();
    }
  }
  exchange.Close();
  const auto deadline = Clock::now() + config.shutdown_timeout;
  while (exchange.Busy() > 0 && Clock::now() < deadline) {
    settle();
    if (!consumer) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    auto delivery = consumer->Next(std::chrono::milliseconds(50));  // heartbeats
    if (!delivery.ok()) {
      drop_consumer(delivery.error().message);
    } else if (delivery->has_value()) {  // raced the cancel: give it back
      (void)consumer->Nack((*delivery)->delivery_tag, /*requeue=*/true);
    }
  }
  settle();
  const auto stuck = exchange.BusyTags();
  if (!stuck.empty()) {
    spdlog::warn("shutdown bound of {} s reached: {} deliveries still in progress are requeued",
                 config.shutdown_timeout.count(), stuck.size());
    // Their leases first: a redelivery must not find them live (it would run nothing and wait for
    // the sweeper). Without PostgreSQL the leases expire and the sweeper re-enqueues the work.
    try {
      auto conn = pg::Connect(pg_config);
      if (!conn.ok()) throw std::runtime_error(conn.error().ToString());
      spdlog::info("released {} leases of abandoned work", leases.ReleaseAll(**conn));
    } catch (const std::exception& e) {
      spdlog::warn(
          "could not release the leases of abandoned work ({}): the sweeper takes them "
          "over when they expire",
          e.what());
    }
    for (const auto& [gen, tag] : stuck) {
      acker.Forget(tag);
      if (consumer && gen == generation && consumer->Nack(tag, /*requeue=*/true).ok()) {
        stage_metrics.requeued->Inc();
      }
    }
  } else {
    for (auto& t : workers) t.join();
  }
  consumer.reset();
  // Give the relay a moment to publish what the last transactions wrote (rows it misses stay in
  // the outbox and any other relay, or this service's next start, publishes them).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  relay_stop = true;
  relay.join();
  kafka_relay.join();
  lease_stop = true;
  lease_thread.join();
  if (health_server) {
    health_server->stop();
    health_thread.join();
  }
  metrics::Registry::Default().RemoveCollector(in_flight_collector);
  metrics::Registry::Default().RemoveCollector(backlog_collector);
  if (!stuck.empty()) {
    // The stuck workers cannot be joined: leave without running destructors under them.
    spdlog::info("stopped (abandoned {} handlers past the shutdown bound)", stuck.size());
    // Flush, not spdlog::shutdown(): an abandoned handler may still log before _Exit, and after
    // shutdown() the default logger it would use is gone.
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) { logger->flush(); });
    std::_Exit(0);
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace chansum::stage
