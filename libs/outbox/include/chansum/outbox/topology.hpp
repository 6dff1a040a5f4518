#pragma once
// The queues the pipeline's outbox rows are published to: every stage's command queue with its
// retry and dead-letter queues. Declared (idempotently) by every process that publishes or
// consumes commands, so a command always finds its queue whichever process starts first.
#include <string>

#include "chansum/amqp/connection.hpp"
#include "chansum/common/result.hpp"

namespace chansum::outbox {

// x-delivery-limit of the stage queues (env DELIVERY_LIMIT). Every process must declare the same
// value: RabbitMQ refuses a redeclaration with different arguments.
inline constexpr int kDefaultDeliveryLimit = 10;

[[nodiscard]] Status DeclarePipelineQueues(amqp::Connection& conn, const std::string& prefix,
                                           int delivery_limit);

}  // namespace chansum::outbox
