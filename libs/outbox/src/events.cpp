#include "chansum/outbox/events.hpp"

#include "chansum/outbox/outbox.hpp"

namespace chansum::outbox {

std::array<Message, 2> EventMessages(std::string_view prefix, const protocol::Event& event) {
  Message m;
  m.message_id = event.event_id;
  m.payload = protocol::Serialize(event);
  std::array<Message, 2> out{m, m};
  out[0].destination = Destination::kKafka;
  out[0].exchange = protocol::EventTopic(prefix, event.type);
  out[0].routing_key = protocol::EventKey(event);
  out[1].destination = Destination::kAmqp;
  out[1].exchange = protocol::EventsExchange(prefix);
  out[1].routing_key = std::string(protocol::EventTypeName(event.type));
  return out;
}

void EnqueueEvent(pqxx::work& txn, std::string_view prefix, const protocol::Event& event) {
  const auto messages = EventMessages(prefix, event);
  EnqueueMany(txn, {messages.begin(), messages.end()});
}

}  // namespace chansum::outbox
