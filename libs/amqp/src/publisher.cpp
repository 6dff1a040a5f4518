#include "chansum/amqp/publisher.hpp"

#include "bytes.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace chansum::amqp {

using detail::BytesToString;
using detail::View;
namespace {

constexpr std::size_t kMaxNamedInError = 5;

}  // namespace

const char* ToString(PublishOutcome outcome) noexcept {
  switch (outcome) {
    case PublishOutcome::kUnconfirmed:
      return "unconfirmed";
    case PublishOutcome::kConfirmed:
      return "confirmed";
    case PublishOutcome::kNacked:
      return "nacked";
    case PublishOutcome::kReturned:
      return "returned";
  }
  return "unknown";
}

Result<std::unique_ptr<Publisher>> Publisher::Open(const AmqpConfig& config, std::string name) {
  auto conn = Connection::Open(config, std::move(name));
  if (!conn.ok()) return std::move(conn).error();
  std::unique_ptr<Publisher> pub(new Publisher(std::move(conn).value()));
  Connection& c = *pub->conn_;
  amqp_confirm_select(c.raw(), Connection::kChannel);
  if (auto st = c.CheckReply(amqp_get_rpc_reply(c.raw()), "confirm.select"); !st.ok()) {
    return std::move(st).error();
  }
  return pub;
}

Status Publisher::Publish(const Message& message) {
  return PublishBatch(std::span<const Message>(&message, 1));
}

int Publisher::Send(const Message& m) {
  amqp_basic_properties_t props;
  std::memset(&props, 0, sizeof(props));
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = m.persistent ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
  if (!m.content_type.empty()) {
    props._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.content_type = View(m.content_type);
  }
  if (!m.message_id.empty()) {
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = View(m.message_id);
  }
  if (!m.headers.empty()) {
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = headers_builder_.Build(m.headers);
  }
  if (m.expiration) {
    const auto ms = std::max<std::int64_t>(0, m.expiration->count());
    auto [end, ec] = std::to_chars(expiration_buf_, expiration_buf_ + sizeof(expiration_buf_), ms);
    (void)ec;  // 24 bytes always hold an int64
    props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
    props.expiration.bytes = expiration_buf_;
    props.expiration.len = static_cast<std::size_t>(end - expiration_buf_);
  }
  return amqp_basic_publish(conn_->raw(), Connection::kChannel, View(m.exchange),
                            View(m.routing_key), m.mandatory ? 1 : 0, /*immediate=*/0, &props,
                            View(m.body));
}

Status Publisher::PublishBatch(std::span<const Message> messages,
                               std::vector<PublishOutcome>* outcomes) {
  const std::size_t n = messages.size();
  outcome_.assign(n, PublishOutcome::kUnconfirmed);
  returned_.assign(n, 0);
  return_reasons_.clear();
  auto report = [&]() {
    if (outcomes == nullptr) return;
    outcomes->resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      (*outcomes)[i] = returned_[i] ? PublishOutcome::kReturned : outcome_[i];
    }
  };
  if (broken_) {
    report();
    return Error::Transient(
        "amqp_publisher_broken",
        "publisher '" + conn_->name() + "' is unusable after an earlier error; open a new one");
  }
  if (auto st = conn_->CheckUsable("basic.publish"); !st.ok()) {
    report();
    return st;
  }
  if (n == 0) {
    report();
    return OkStatus();
  }

  amqp_maybe_release_buffers(conn_->raw());  // frees frames decoded by earlier batches
  const std::uint64_t first_tag = next_tag_;
  for (std::size_t i = 0; i < n; ++i) {
    const int rc = Send(messages[i]);
    if (rc != AMQP_STATUS_OK) {
      report();
      broken_ = true;
      auto st = conn_->CheckStatus(rc, "basic.publish of message " + std::to_string(i) + " ('" +
                                           messages[i].message_id + "') to exchange '" +
                                           messages[i].exchange + "'");
      if (st.ok()) {  // a non-negative failure code should not happen; treat as an I/O error
        return conn_->Fail(Error::Transient("amqp_io", "basic.publish failed"));
      }
      return st;
    }
    ++next_tag_;
  }
  Status st = WaitConfirms(messages, first_tag);
  report();
  if (!st.ok()) broken_ = true;
  return st;
}

Status Publisher::WaitConfirms(std::span<const Message> messages, std::uint64_t first_tag) {
  const std::size_t n = messages.size();
  const std::uint64_t end_tag = first_tag + n;  // exclusive
  std::size_t pending = n;
  std::size_t nacked = 0;
  std::size_t returned = 0;
  std::uint64_t low = first_tag;  // every tag below is settled

  auto settle = [&](std::uint64_t tag, bool multiple, PublishOutcome outcome) {
    if (tag >= end_tag) tag = end_tag - 1;
    if (multiple) {
      for (std::uint64_t t = low; t <= tag; ++t) {
        auto& o = outcome_[t - first_tag];
        if (o == PublishOutcome::kUnconfirmed) {
          o = outcome;
          --pending;
          if (outcome == PublishOutcome::kNacked) ++nacked;
        }
      }
    } else if (tag >= first_tag) {
      auto& o = outcome_[tag - first_tag];
      if (o == PublishOutcome::kUnconfirmed) {
        o = outcome;
        --pending;
        if (outcome == PublishOutcome::kNacked) ++nacked;
      }
    }
    while (low < end_tag && outcome_[low - first_tag] != PublishOutcome::kUnconfirmed) ++low;
  };

  const auto deadline = std::chrono::steady_clock::now() + conn_->config().rpc_timeout;
  amqp_connection_state_t state = conn_->raw();
  while (pending > 0) {
    const auto remaining = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) {
      return conn_->Fail(
          Error::Transient("amqp_timeout", "no publisher confirm for " + std::to_string(pending) +
                                               " of " + std::to_string(n) + " messages within " +
                                               std::to_string(conn_->config().rpc_timeout.count()) +
                                               " ms (connection '" + conn_->name() + "')"));
    }
    timeval tv = ToTimeval(remaining);
    amqp_frame_t frame;
    const int rc = amqp_simple_wait_frame_noblock(state, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) continue;
    if (rc != AMQP_STATUS_OK) {
      auto st = conn_->CheckStatus(rc, "waiting for publisher confirms");
      return st.ok() ? Status(conn_->Fail(Error::Transient("amqp_io", "frame wait failed"))) : st;
    }
    if (auto closed = conn_->HandleServerClose(frame, "waiting for publisher confirms")) {
      std::size_t confirmed = 0;
      for (auto o : outcome_) confirmed += o == PublishOutcome::kConfirmed ? 1 : 0;
      closed->message += "; " + std::to_string(confirmed) + " of " + std::to_string(n) +
                         " messages were confirmed before";
      return std::move(*closed);
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        settle(ack->delivery_tag, ack->multiple != 0, PublishOutcome::kConfirmed);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
        settle(nack->delivery_tag, nack->multiple != 0, PublishOutcome::kNacked);
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        // basic.return is followed by the message's header and body frames, then by its ack.
        const auto* ret = static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded);
        std::string reason = std::to_string(ret->reply_code) + " " +
                             BytesToString(ret->reply_text) + " (exchange '" +
                             BytesToString(ret->exchange) + "', routing key '" +
                             BytesToString(ret->routing_key) + "'";
        amqp_message_t msg;
        auto read = amqp_read_message(state, frame.channel, &msg, 0);
        if (auto st = conn_->CheckReply(read, "reading a returned message"); !st.ok()) return st;
        std::string id;
        if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
          id = BytesToString(msg.properties.message_id);
        }
        amqp_destroy_message(&msg);
        ++returned;
        for (std::size_t i = 0; i < n; ++i) {
          if (!returned_[i] && !id.empty() && messages[i].message_id == id) {
            returned_[i] = 1;
            reason += ", message " + std::to_string(i) + " '" + id + "'";
            break;
          }
        }
        return_reasons_.push_back(reason + ")");
        break;
      }
      default:  // e.g. connection.blocked; heartbeats are handled inside librabbitmq
        break;
    }
  }
  confirmed_total_ += n - nacked - returned;
  if (nacked == 0 && returned == 0) return OkStatus();

  std::string msg =
      "publish of " + std::to_string(n) + " messages on connection '" + conn_->name() + "':";
  if (nacked > 0) {
    msg += " " + std::to_string(nacked) + " nacked by the broker (";
    std::size_t named = 0;
    for (std::size_t i = 0; i < n && named < kMaxNamedInError; ++i) {
      if (outcome_[i] != PublishOutcome::kNacked) continue;
      msg += (named++ ? ", " : "") + std::to_string(i) + " '" + messages[i].message_id + "'";
    }
    msg += nacked > named ? ", ...)" : ")";
  }
  if (returned > 0) {
    msg += std::string(nacked > 0 ? ";" : "") + " " + std::to_string(returned) +
           " returned as unroutable: ";
    for (std::size_t i = 0; i < return_reasons_.size() && i < kMaxNamedInError; ++i) {
      msg += (i ? "; " : "") + return_reasons_[i];
    }
    if (return_reasons_.size() > kMaxNamedInError) msg += "; ...";
  }
  // A nack is the broker refusing for now (e.g. a full queue): retry later. A return means no
  // queue is bound for the routing key: retrying won't help until the topology changes.
  return nacked > 0 ? Error::Transient("amqp_nack", msg) : Error::Permanent("amqp_returned", msg);
}

}  // namespace chansum::amqp
