#pragma once
// Test helpers for the local stack's RabbitMQ node (broker-side fault injection).
#include <string>

namespace chansum::testing {

// Runs a shell command (tests only) and returns its stdout; empty on failure.
std::string RunShell(const std::string& command);

// rabbitmqctl for the stack's node: node name, cookie home and epmd port are taken from the
// running broker's own environment ($CHANSUM_RUN_DIR/rabbitmq/rabbitmq.pid), so tests follow
// whatever ports the stack was started with. Empty when the node cannot be found.
[[nodiscard]] std::string RabbitmqctlCommand();

// Closes the broker-side connection whose client-provided connection_name is `name`
// (rabbitmqctl close_connection: connection.close 320 CONNECTION_FORCED). True when one was.
bool ForceCloseConnection(const std::string& rabbitmqctl, const std::string& name);

}  // namespace chansum::testing
