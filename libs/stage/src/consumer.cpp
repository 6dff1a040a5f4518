#include "consumer.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "chansum/amqp/connection.hpp"
#include "chansum/amqp/consumer.hpp"
#include "chansum/http/readiness.hpp"
#include "chansum/metrics/metrics.hpp"
#include "chansum/outbox/topology.hpp"
#include "chansum/service/backoff.hpp"
#include "chansum/stage/processor.hpp"

namespace chansum::stage {
namespace {

using Clock = service::Clock;

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
  [[nodiscard]] int WakeFd() const noexcept { return wake_fd_; }
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

std::unique_ptr<pqxx::connection> ConnectWithRetry(const pg::PgConfig& config, const char* who,
                                                   const std::function<bool()>& should_stop) {
  service::Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(10), should_stop);
  while (!should_stop()) {
    auto conn = pg::Connect(config);
    if (conn.ok()) return std::move(*conn);
    spdlog::warn("{}: PostgreSQL unavailable ({}), retrying", who, conn.error().message);
    if (!backoff.Wait()) break;
  }
  return nullptr;
}

void WorkerLoop(const ConsumerDeps& deps, Exchange& exchange, StageMetrics& stage_metrics,
                const std::function<bool()>& should_stop) {
  const RunnerConfig& config = deps.config;
  const pg::PgConfig& pg_config = deps.pg;
  Health& health = deps.health;
  Processor processor(config, deps.make_handler(), deps.docs, should_stop);
  processor.SetLeaseKeeper(&deps.leases);
  processor.SetTokenBudget(deps.tokens);
  // Connect before the first message arrives, so readiness reflects the database.
  std::unique_ptr<pqxx::connection> conn = ConnectWithRetry(pg_config, "worker", should_stop);
  if (conn) health.pg_workers_ok.fetch_add(1);
  // A short stage takes what is ready up to a batch; a long one a delivery at a time (a second
  // one would wait behind the first instead of going to an idle worker).
  const int batch_size = config.short_handler ? config.batch_size : 1;
  for (auto work = exchange.PopBatch(batch_size); !work.empty();
       work = exchange.PopBatch(batch_size)) {
    std::vector<Done> done;
    done.reserve(work.size());
    for (const auto& w : work) done.push_back(Done{w.generation, w.tag, Disposition::kRequeue});
    if (!conn || !conn->is_open()) {
      if (conn) health.pg_workers_ok.fetch_sub(1);
      conn = ConnectWithRetry(pg_config, "worker", should_stop);
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
        // Don't spin on a broken database.
        for (int i = 0; i < 25 && !should_stop(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
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
}  // namespace

// What the AMQP I/O thread and the workers share.
struct StageConsumer::State {
  explicit State(const std::string& service) : metrics(service) {}
  Exchange exchange;
  StageMetrics metrics;
  int in_flight_collector = -1;
  // Used by the AMQP I/O thread only.
  std::uint64_t generation = 0;  // which AMQP connection delivered a message
  std::unique_ptr<amqp::Consumer> consumer;
  Acker acker;
};

StageConsumer::StageConsumer(ConsumerDeps deps) : deps_(deps) {}

StageConsumer::~StageConsumer() {
  if (io_thread_.joinable()) StageConsumer::Stop(Clock::now());
}

Status StageConsumer::Start() {
  state_ = std::make_unique<State>(deps_.config.service);
  state_->metrics.workers->Set(deps_.config.concurrency);
  state_->in_flight_collector = metrics::Registry::Default().AddCollector(
      [s = state_.get()] { s->metrics.in_flight->Set(s->exchange.InFlight()); });
  const auto should_stop = [this] { return stop_.load(); };
  for (int i = 0; i < deps_.config.concurrency; ++i) {
    workers_.emplace_back(
        [this, should_stop] { WorkerLoop(deps_, state_->exchange, state_->metrics, should_stop); });
  }
  io_thread_ = std::thread([this] {
    Consume();
    Drain();
  });
  return OkStatus();
}

void StageConsumer::DropConsumer(const std::string& why) {
  State& s = *state_;
  spdlog::warn("RabbitMQ consumer lost: {}", why);
  s.consumer.reset();
  s.acker.Reset();
  deps_.health.amqp_ok = false;
  ++s.generation;  // acks for deliveries of the old connection are void; they will be redelivered
  for (auto& w : s.exchange.TakeUnstarted()) (void)w;
}

void StageConsumer::Settle() {
  State& s = *state_;
  std::deque<Done> done;
  for (const auto& d : s.exchange.TakeDone()) {
    if (s.consumer && d.generation == s.generation) done.push_back(d);
  }
  if (done.empty() || !s.consumer) return;
  if (Status st = s.acker.Settle(*s.consumer, done, s.metrics); !st.ok()) {
    DropConsumer(st.error().message);
  }
}

// The AMQP I/O thread until Stop: it keeps heartbeats serviced by never blocking for long, hands
// deliveries to the workers and acks what they finish.
void StageConsumer::Consume() {
  State& s = *state_;
  const RunnerConfig& config = deps_.config;
  service::Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(15),
                           [this] { return stop_.load(); });
  while (!stop_.load()) {
    if (!s.consumer) {
      auto conn = amqp::Connection::Open(deps_.amqp, config.service + "-topology");
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
      auto c = amqp::Consumer::Open(deps_.amqp, config.service + "-consumer", options);
      if (!c.ok()) {
        spdlog::warn("cannot consume from {} ({}), retrying", config.Queue(), c.error().message);
        if (!backoff.Wait()) break;
        continue;
      }
      s.consumer = std::move(*c);
      deps_.health.amqp_ok = true;
      backoff.Reset();
      spdlog::info("consuming from {} with prefetch {}", config.Queue(), config.prefetch);
    }
    Settle();
    if (!s.consumer) continue;
    if (s.consumer->WaitReadable(std::chrono::milliseconds(50), s.exchange.WakeFd())) {
      s.exchange.DrainWake();
      continue;  // a worker finished: settle it first
    }
    auto delivery = s.consumer->Next(std::chrono::milliseconds(0));
    if (!delivery.ok()) {
      DropConsumer(delivery.error().message);
      continue;
    }
    if (delivery->has_value()) {
      s.metrics.consumed->Inc();
      s.acker.Delivered((*delivery)->delivery_tag);
      s.exchange.PushWork(
          Work{s.generation, (*delivery)->delivery_tag, std::move((*delivery)->body)});
    }
  }
}

// Shutdown, on the AMQP I/O thread: stop taking work (basic.cancel), give back what no worker
// started, and let in-flight work finish (handlers see should_stop and return early) until the
// deadline while the connection stays serviced and what finishes is acked. Past the deadline, the
// deliveries still in progress are nacked with requeue (the broker redelivers them; their rows go
// back to `pending`, their leases released).
void StageConsumer::Drain() {
  State& s = *state_;
  const auto deadline = Clock::time_point(Clock::duration(deadline_.load()));
  spdlog::info("stopping: {} deliveries in flight (bound {} s)", s.exchange.InFlight(),
               deps_.config.shutdown_timeout.count());
  deps_.health.amqp_ok = false;
  if (s.consumer) {
    if (auto st = s.consumer->Cancel(); !st.ok()) DropConsumer(st.error().message);
  }
  for (const auto& w : s.exchange.TakeUnstarted()) {
    s.acker.Forget(w.tag);
    if (s.consumer && w.generation == s.generation &&
        s.consumer->Nack(w.tag, /*requeue=*/true).ok()) {
      s.metrics.requeued->Inc();
    }
  }
  s.exchange.Close();
  while (s.exchange.Busy() > 0 && Clock::now() < deadline) {
    Settle();
    if (!s.consumer) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    auto delivery = s.consumer->Next(std::chrono::milliseconds(50));  // heartbeats
    if (!delivery.ok()) {
      DropConsumer(delivery.error().message);
    } else if (delivery->has_value()) {  // raced the cancel: give it back
      (void)s.consumer->Nack((*delivery)->delivery_tag, /*requeue=*/true);
    }
  }
  Settle();
  const auto stuck = s.exchange.BusyTags();
  if (!stuck.empty()) {
    spdlog::warn("shutdown bound of {} s reached: {} deliveries still in progress are requeued",
                 deps_.config.shutdown_timeout.count(), stuck.size());
    // Their leases first: a redelivery must not find them live (it would run nothing and wait for
    // the sweeper). Without PostgreSQL the leases expire and the sweeper re-enqueues the work.
    try {
      auto conn = pg::Connect(deps_.pg);
      if (!conn.ok()) throw std::runtime_error(conn.error().ToString());
      spdlog::info("released {} leases of abandoned work", deps_.leases.ReleaseAll(**conn));
    } catch (const std::exception& e) {
      spdlog::warn(
          "could not release the leases of abandoned work ({}): the sweeper takes them "
          "over when they expire",
          e.what());
    }
    for (const auto& [gen, tag] : stuck) {
      s.acker.Forget(tag);
      if (s.consumer && gen == s.generation && s.consumer->Nack(tag, /*requeue=*/true).ok()) {
        s.metrics.requeued->Inc();
      }
    }
  }
  abandoned_ = stuck.size();
  s.consumer.reset();
}

bool StageConsumer::Stop(Clock::time_point deadline) {
  if (!io_thread_.joinable()) return true;
  deadline_ = deadline.time_since_epoch().count();
  stop_ = true;
  io_thread_.join();
  for (auto& t : workers_) {
    // Stuck handlers cannot be joined: the process leaves without running destructors under them.
    if (abandoned_ > 0) {
      t.detach();
    } else {
      t.join();
    }
  }
  workers_.clear();
  metrics::Registry::Default().RemoveCollector(state_->in_flight_collector);
  return abandoned_ == 0;
}

std::vector<std::pair<std::string, Status>> StageConsumer::Checks() const {
  const Health& h = deps_.health;
  return {{"rabbitmq", http::FlagCheck(h.amqp_ok.load(), "the consumer is not connected")},
          {"postgres", !h.pg_probe_ok.load()
                           ? http::FlagCheck(false, "the lease thread's SELECT 1 does not succeed")
                           : http::FlagCheck(h.pg_workers_ok.load() > 0,
                                             "no worker holds an open connection")}};
}
}  // namespace chansum::stage
