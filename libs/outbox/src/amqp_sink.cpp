#include "chansum/outbox/amqp_sink.hpp"

namespace chansum::outbox {

AmqpSink::AmqpSink(amqp::AmqpConfig config, std::string name,
                   std::function<Status(amqp::Connection&)> on_connect)
    : config_(std::move(config)), name_(std::move(name)), on_connect_(std::move(on_connect)) {
  // The relay's publisher sits idle between batches, and librabbitmq services heartbeats only
  // inside its calls: with heartbeats on, the broker drops an idle publisher. Without them a dead
  // connection shows up as an error on the next batch, which is retried on a fresh connection.
  config_.heartbeat = std::chrono::seconds(0);
}

AmqpSink::~AmqpSink() = default;

void AmqpSink::Reset() { publisher_.reset(); }

Status AmqpSink::Publish(const std::vector<Row>& rows, std::vector<bool>& delivered) {
  if (!publisher_ || !publisher_->ok()) {
    publisher_.reset();
    auto p = amqp::Publisher::Open(config_, name_);
    if (!p.ok()) return p.error();
    if (on_connect_) {
      auto st = on_connect_((*p)->connection());
      if (!st.ok()) return st.error();
    }
    publisher_ = std::move(*p);
  }
  scratch_.clear();
  scratch_.reserve(rows.size());
  for (const auto& row : rows) {
    const auto& m = row.message;
    amqp::Message out;
    out.exchange = m.exchange;
    out.routing_key = m.routing_key;
    out.body = m.payload;
    out.message_id = m.message_id;
    out.persistent = true;
    out.mandatory = m.exchange.empty();  // commands go straight to a queue: it must exist
    if (m.expiration_ms) out.expiration = std::chrono::milliseconds(*m.expiration_ms);
    if (m.headers.is_object()) {
      for (const auto& [k, v] : m.headers.items()) {
        if (v.is_number_integer()) {
          out.headers[k] = v.get<std::int64_t>();
        } else if (v.is_string()) {
          out.headers[k] = v.get<std::string>();
        } else {
          out.headers[k] = v.dump();
        }
      }
    }
    scratch_.push_back(std::move(out));
  }
  std::vector<amqp::PublishOutcome> outcomes;
  auto st = publisher_->PublishBatch(scratch_, &outcomes);
  for (std::size_t i = 0; i < outcomes.size() && i < delivered.size(); ++i) {
    delivered[i] = outcomes[i] == amqp::PublishOutcome::kConfirmed;
  }
  if (!st.ok()) publisher_.reset();
  return st;
}

}  // namespace chansum::outbox
