#include "chansum/outbox/relays.hpp"

#include <algorithm>
#include <thread>

#include "chansum/metrics/metrics.hpp"
#include "chansum/outbox/amqp_sink.hpp"
#include "chansum/outbox/kafka_sink.hpp"
#include "chansum/outbox/metrics.hpp"
#include "chansum/outbox/outbox.hpp"
#include "chansum/outbox/topology.hpp"
#include "chansum/protocol/events.hpp"

namespace chansum::outbox {
namespace {

std::function<std::unique_ptr<pqxx::connection>()> Connector(const pg::PgConfig& pg_config) {
  return [pg_config]() -> std::unique_ptr<pqxx::connection> {
    auto c = pg::Connect(pg_config);
    if (!c.ok()) throw std::runtime_error(c.error().message);
    return std::move(*c);
  };
}

// A loop that makes a relay and runs it until the loop stops (a Relay retries on its own; an
// exception out of it is logged by the loop, which makes a new one after its backoff).
std::unique_ptr<service::BackgroundLoop> RelayLoop(
    std::string name, std::function<std::unique_ptr<Relay>(const std::atomic<bool>& stop)> make) {
  return service::RunUntilStopped(
      std::move(name),
      [make = std::move(make)](const std::atomic<bool>& stop) { make(stop)->Run(stop); });
}

}  // namespace

Relays::Relays(RelaysConfig config) : config_(std::move(config)) {}

Relays::~Relays() { Relays::Stop(service::Clock::now()); }

Status Relays::Start() {
  const RelaysConfig& c = config_;
  amqp_loop_ = RelayLoop("amqp-relay", [&c](const std::atomic<bool>&) {
    return std::make_unique<Relay>(Connector(c.pg),
                                   std::make_unique<AmqpSink>(c.amqp, c.client_name + "-relay",
                                                              [&c](amqp::Connection& conn) {
                                                                return DeclarePipelineQueues(
                                                                    conn, c.queue_prefix,
                                                                    c.delivery_limit);
                                                              }),
                                   nullptr, RelayOptions{});
  });
  kafka_loop_ = RelayLoop("kafka-relay", [&c](const std::atomic<bool>& stop) {
    KafkaSinkOptions options;
    options.topics = protocol::EventTopics(c.queue_prefix);
    options.should_stop = [&stop] { return stop.load(); };  // cuts the wait for reports short
    return std::make_unique<Relay>(Connector(c.pg), nullptr,
                                   std::make_unique<KafkaSink>(c.kafka, std::move(options)),
                                   RelayOptions{});
  });
  (void)amqp_loop_->Start();
  (void)kafka_loop_->Start();
  backlog_collector_ = RegisterBacklogMetrics(Connector(c.pg));
  return OkStatus();
}

bool Relays::Stop(service::Clock::time_point deadline) {
  if (!amqp_loop_) return true;
  std::this_thread::sleep_for(std::min<service::Clock::duration>(
      config_.catch_up, std::max<service::Clock::duration>(deadline - service::Clock::now(), {})));
  amqp_loop_->Stop(deadline);
  kafka_loop_->Stop(deadline);
  amqp_loop_.reset();
  kafka_loop_.reset();
  metrics::Registry::Default().RemoveCollector(backlog_collector_);
  return true;
}

}  // namespace chansum::outbox
