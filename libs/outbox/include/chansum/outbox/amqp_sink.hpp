#pragma once
// Outbox sink for RabbitMQ: publishes a batch with publisher confirms on its own connection
// (persistent; mandatory when sent to a queue through the default exchange, so a missing queue is
// an error rather than a silent drop). A nack, a return or a lost connection fails the batch; the
// connection is rebuilt on the next batch.
#include <memory>
#include <string>

#include "chansum/amqp/config.hpp"
#include "chansum/amqp/connection.hpp"
#include "chansum/amqp/publisher.hpp"
#include "chansum/outbox/outbox.hpp"

namespace chansum::outbox {

class AmqpSink final : public Sink {
 public:
  // `on_connect` runs on every new connection before publishing (e.g. to declare queues).
  explicit AmqpSink(amqp::AmqpConfig config, std::string name,
                    std::function<Status(amqp::Connection&)> on_connect = {});
  ~AmqpSink() override;
  [[nodiscard]] Status Publish(const std::vector<Row>& rows, std::vector<bool>& delivered) override;
  void Reset() override;

 private:
  amqp::AmqpConfig config_;
  std::string name_;
  std::function<Status(amqp::Connection&)> on_connect_;
  std::unique_ptr<amqp::Publisher> publisher_;
  std::vector<amqp::Message> scratch_;
};

}  // namespace chansum::outbox
