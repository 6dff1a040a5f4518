#pragma once
// Domain events through the transactional outbox: the one place that turns an event into its
// outbox rows, so every emitter writes them the same way.
#include <array>
#include <string_view>

#include <pqxx/pqxx>

#include "chansum/outbox/outbox.hpp"
#include "chansum/protocol/events.hpp"

namespace chansum::outbox {

// Writes the event's two outbox rows in the caller's transaction (so they commit, or not, with
// the state change that caused them):
//   kafka: topic "<prefix><type>", key = protocol::EventKey (video_id; job_id for job.completed,
//   subscription_id for subscription.checked)
//   amqp:  fanout exchange "<prefix>events", routing key = type, message_id = event_id
// Both carry the serialized envelope; message_id = event_id on both rows.
void EnqueueEvent(pqxx::work& txn, std::string_view prefix, const protocol::Event& event);
// The two outbox messages of an event (Kafka first, then the fanout), for batched writers.
[[nodiscard]] std::array<Message, 2> EventMessages(std::string_view prefix,
                                                   const protocol::Event& event);

}  // namespace chansum::outbox
