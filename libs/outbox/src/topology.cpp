#include "chansum/outbox/topology.hpp"

#include "chansum/amqp/topology.hpp"
#include "chansum/protocol/command.hpp"

namespace chansum::outbox {

Status DeclarePipelineQueues(amqp::Connection& conn, const std::string& prefix,
                             int delivery_limit) {
  for (protocol::Stage s : protocol::kAllStages) {
    auto st = amqp::DeclareStageQueues(conn, protocol::QueueName(prefix, s), delivery_limit);
    if (!st.ok()) return st;
  }
  return OkStatus();
}

}  // namespace chansum::outbox
