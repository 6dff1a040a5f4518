#include "chansum/outbox/topology.hpp"

#include "chansum/amqp/topology.hpp"
#include "chansum/protocol/command.hpp"
#include "chansum/protocol/events.hpp"

namespace chansum::outbox {

Status DeclarePipelineQueues(amqp::Connection& conn, const std::string& prefix,
                             int delivery_limit) {
  for (protocol::Stage s : protocol::kAllStages) {
    auto st = amqp::DeclareStageQueues(conn, protocol::QueueName(prefix, s), delivery_limit);
    if (!st.ok()) return st;
  }
  return DeclareEventsExchange(conn, prefix);
}

Status DeclareEventsExchange(amqp::Connection& conn, const std::string& prefix) {
  return amqp::DeclareFanout(conn, protocol::EventsExchange(prefix));
}

}  // namespace chansum::outbox
