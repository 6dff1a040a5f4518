#include "chansum/amqp/consumer.hpp"

#include "bytes.hpp"

#include <poll.h>

namespace chansum::amqp {

using detail::BytesToString;
using detail::View;
namespace {

Delivery ToDelivery(const amqp_envelope_t& env) {
  Delivery d;
  d.delivery_tag = env.delivery_tag;
  d.redelivered = env.redelivered != 0;
  d.exchange = BytesToString(env.exchange);
  d.routing_key = BytesToString(env.routing_key);
  d.body = BytesToString(env.message.body);
  const amqp_basic_properties_t& p = env.message.properties;
  if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) d.message_id = BytesToString(p.message_id);
  if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) d.content_type = BytesToString(p.content_type);
  if (p._flags & AMQP_BASIC_HEADERS_FLAG) d.headers = FromTable(p.headers);
  return d;
}

}  // namespace

Result<std::unique_ptr<Consumer>> Consumer::Open(const AmqpConfig& config, std::string name,
                                                 ConsumerOptions options) {
  auto conn = Connection::Open(config, std::move(name));
  if (!conn.ok()) return std::move(conn).error();
  std::unique_ptr<Consumer> consumer(new Consumer(std::move(conn).value(), std::move(options)));
  Connection& c = *consumer->conn_;
  const ConsumerOptions& o = consumer->options_;

  amqp_basic_qos(c.raw(), Connection::kChannel, 0, o.prefetch, /*global=*/0);
  if (auto st = c.CheckReply(amqp_get_rpc_reply(c.raw()), "basic.qos"); !st.ok()) {
    return std::move(st).error();
  }
  amqp_basic_consume_ok_t* ok =
      amqp_basic_consume(c.raw(), Connection::kChannel, View(o.queue), View(o.consumer_tag),
                         /*no_local=*/0, /*no_ack=*/0, o.exclusive ? 1 : 0, amqp_empty_table);
  if (auto st = c.CheckReply(amqp_get_rpc_reply(c.raw()), "basic.consume '" + o.queue + "'");
      !st.ok()) {
    return std::move(st).error();
  }
  consumer->consumer_tag_ = BytesToString(ok->consumer_tag);
  return consumer;
}

bool Consumer::WaitReadable(std::chrono::milliseconds timeout, int wake_fd) {
  amqp_connection_state_t state = conn_->raw();
  if (!conn_->ok() || amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0) {
    return false;  // Next has something to do (or an error to report) right away
  }
  pollfd fds[2] = {{amqp_get_sockfd(state), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const int rc = poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
  return rc > 0 && wake_fd >= 0 && (fds[1].revents & POLLIN) != 0;
}

Result<std::optional<Delivery>> Consumer::Next(std::chrono::milliseconds timeout) {
  static constexpr std::string_view kWhat = "consuming";
  if (auto st = conn_->CheckUsable(kWhat); !st.ok()) return std::move(st).error();
  amqp_connection_state_t state = conn_->raw();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    amqp_maybe_release_buffers(state);
    const auto remaining = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline - std::chrono::steady_clock::now());
    timeval tv = ToTimeval(remaining);
    amqp_envelope_t env;
    amqp_rpc_reply_t r = amqp_consume_message(state, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
      Delivery d = ToDelivery(env);
      amqp_destroy_envelope(&env);
      return std::optional<Delivery>(std::move(d));
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
      return std::optional<Delivery>();
    }
    if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
        r.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
      auto st = conn_->CheckReply(r, kWhat);
      if (st.ok()) st = conn_->Fail(Error::Transient("amqp_io", "consume failed"));
      return std::move(st).error();
    }
    // Something other than basic.deliver is next (amqp_consume_message put it back): read it.
    amqp_frame_t frame;
    const int rc = amqp_simple_wait_frame(state, &frame);
    if (rc != AMQP_STATUS_OK) {
      auto st = conn_->CheckStatus(rc, kWhat);
      if (st.ok()) st = conn_->Fail(Error::Transient("amqp_io", "frame wait failed"));
      return std::move(st).error();
    }
    if (auto closed = conn_->HandleServerClose(frame, kWhat)) return std::move(*closed);
    if (frame.frame_type == AMQP_FRAME_METHOD &&
        frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
      return conn_->Fail(Error::Transient(
          "amqp_consumer_cancelled",
          "the broker cancelled consumer '" + consumer_tag_ + "' on queue '" + options_.queue +
              "' (queue deleted or its leader moved; connection '" + conn_->name() + "')"));
    }
    // Anything else (e.g. basic.cancel-ok after Cancel, connection.blocked) is not for us.
    if (std::chrono::steady_clock::now() >= deadline) return std::optional<Delivery>();
  }
}

Status Consumer::Ack(std::uint64_t tag, bool multiple) {
  if (auto st = conn_->CheckUsable("basic.ack"); !st.ok()) return st;
  return conn_->CheckStatus(amqp_basic_ack(conn_->raw(), Connection::kChannel, tag, multiple),
                            "basic.ack");
}

Status Consumer::Nack(std::uint64_t tag, bool requeue, bool multiple) {
  if (auto st = conn_->CheckUsable("basic.nack"); !st.ok()) return st;
  return conn_->CheckStatus(
      amqp_basic_nack(conn_->raw(), Connection::kChannel, tag, multiple, requeue), "basic.nack");
}

Status Consumer::Reject(std::uint64_t tag, bool requeue) {
  if (auto st = conn_->CheckUsable("basic.reject"); !st.ok()) return st;
  return conn_->CheckStatus(amqp_basic_reject(conn_->raw(), Connection::kChannel, tag, requeue),
                            "basic.reject");
}

Status Consumer::Cancel() {
  if (auto st = conn_->CheckUsable("basic.cancel"); !st.ok()) return st;
  amqp_basic_cancel(conn_->raw(), Connection::kChannel, View(consumer_tag_));
  return conn_->CheckReply(amqp_get_rpc_reply(conn_->raw()), "basic.cancel");
}

}  // namespace chansum::amqp
