#include "chansum/outbox/events.hpp"

#include "chansum/outbox/outbox.hpp"

namespace chansum::outbox {

void EnqueueEvent(pqxx::work& txn, std::string_view prefix, const protocol::Event& event) {
  Message m;
  m.message_id = event.event_id;
  m.payload = protocol::Serialize(event);

  m.destination = Destination::kKafka;
  m.exchange = protocol::EventTopic(prefix, event.type);
  m.routing_key = protocol::EventKey(event);
  Enqueue(txn, m);

  m.destination = Destination::kAmqp;
  m.exchange = protocol::EventsExchange(prefix);
  m.routing_key = std::string(protocol::EventTypeName(event.type));
  Enqueue(txn, m);
}

}  // namespace chansum::outbox
