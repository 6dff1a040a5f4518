#pragma once
// The RabbitMQ topology the pipeline's outbox rows are published to: every stage's command queue
// with its retry and dead-letter queues, and the durable fanout exchange of the domain events.
// Declared (idempotently) by every process that publishes or consumes commands, so a message
// always finds its queue or exchange whichever process starts first.
#include <string>

#include "chansum/amqp/connection.hpp"
#include "chansum/common/result.hpp"

namespace chansum::outbox {

// x-delivery-limit of the stage queues (env DELIVERY_LIMIT). Every process must declare the same
// value: RabbitMQ refuses a redeclaration with different arguments.
inline constexpr int kDefaultDeliveryLimit = 10;

// The stage queues (with .retry and .dlq) and the events fanout ("<prefix>events").
[[nodiscard]] Status DeclarePipelineQueues(amqp::Connection& conn, const std::string& prefix,
                                           int delivery_limit);

// Only the durable fanout exchange "<prefix>events" (for event consumers that bind to it).
[[nodiscard]] Status DeclareEventsExchange(amqp::Connection& conn, const std::string& prefix);

}  // namespace chansum::outbox
