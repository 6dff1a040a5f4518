#pragma once
// The outbox relays of one process, as a service component: the one place they are wired. Two
// relays, one per destination (RabbitMQ with the pipeline's queues declared on connect; Kafka with
// the event topics), each on its own service::BackgroundLoop, so a Kafka outage (a batch blocks
// until its delivery reports time out) never delays the commands that drive the pipeline, and
// vice versa. Also registers the backlog gauges on /metrics (metrics.hpp).
//
// Stop it after everything that writes to the outbox: it first gives the relays a moment
// (catch_up, within the shutdown bound) to publish what the last transactions wrote. Rows it
// misses stay pending; any other process's relays, or this one's next start, publish them.
#include <chrono>
#include <memory>
#include <string>

#include "chansum/amqp/config.hpp"
#include "chansum/kafka/config.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/service/loop.hpp"

namespace chansum::outbox {

struct RelaysConfig {
  pg::PgConfig pg;
  amqp::AmqpConfig amqp;
  kafka::KafkaConfig kafka;
  std::string client_name;  // the AMQP connection is "<client_name>-relay"
  std::string queue_prefix;
  int delivery_limit = 10;
  std::chrono::milliseconds catch_up{300};
};

class Relays : public service::Component {
 public:
  explicit Relays(RelaysConfig config);
  ~Relays() override;

  [[nodiscard]] const std::string& Name() const override { return name_; }
  Status Start() override;
  bool Stop(service::Clock::time_point deadline) override;

 private:
  const std::string name_ = "outbox relays";
  const RelaysConfig config_;
  std::unique_ptr<service::BackgroundLoop> amqp_loop_;
  std::unique_ptr<service::BackgroundLoop> kafka_loop_;
  int backlog_collector_ = -1;
};

}  // namespace chansum::outbox
