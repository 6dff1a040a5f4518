#pragma once
// Publishing with publisher confirms on a dedicated connection.
//
// Publish/PublishBatch return OK only when the broker has confirmed (basic.ack) every message.
// librabbitmq's amqp_basic_publish returning 0 only means "written to the socket". A basic.nack,
// a basic.return of a mandatory message, a channel/connection close, a socket error or no confirm
// within config.rpc_timeout is an Error, and from then on the Publisher is unusable (ok() false):
// drop it and open a new one, then publish the unconfirmed messages again (duplicates are
// possible; consumers deduplicate by message_id).
//
// Threading: one thread owns a Publisher (see connection.hpp). Under a broker memory/disk alarm
// the broker stops reading and a publish blocks until the alarm clears.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "chansum/amqp/config.hpp"
#include "chansum/amqp/connection.hpp"
#include "chansum/amqp/headers.hpp"
#include "chansum/common/result.hpp"

namespace chansum::amqp {

struct Message {
  std::string exchange;  // "" = default exchange (routing_key is the queue name)
  std::string routing_key;
  std::string body;
  std::string content_type = "application/json";
  std::string message_id;  // also used to name a returned message in errors
  bool persistent = true;  // delivery_mode 2
  // Ask the broker to return the message when no queue takes it (an Error then). Off by default
  // because a fanout without subscribers is normal; turn it on for commands sent to a queue.
  bool mandatory = false;
  Headers headers;
  std::optional<std::chrono::milliseconds> expiration;  // per-message TTL
};

enum class PublishOutcome : std::uint8_t {
  kUnconfirmed,  // no answer (yet) when the batch ended with an error: resend
  kConfirmed,    // basic.ack
  kNacked,       // basic.nack: the broker did not take it (e.g. queue full): resend later
  kReturned,     // basic.return: unroutable (mandatory): fix the topology
};
[[nodiscard]] const char* ToString(PublishOutcome outcome) noexcept;

class Publisher {
 public:
  // Opens a connection named `name` and puts its channel into confirm mode.
  [[nodiscard]] static Result<std::unique_ptr<Publisher>> Open(const AmqpConfig& config,
                                                               std::string name);

  // Publishes one message and waits for its confirm.
  [[nodiscard]] Status Publish(const Message& message);
  // Publishes all messages back to back, then reads the confirms as a stream (basic.ack with
  // multiple=true covers many at once): one round trip for the batch, not one per message.
  // `outcomes` (optional) receives one entry per message, also on error, so a caller can tell
  // which messages the broker has. Keep batches to a few thousand messages.
  [[nodiscard]] Status PublishBatch(std::span<const Message> messages,
                                    std::vector<PublishOutcome>* outcomes = nullptr);

  [[nodiscard]] bool ok() const noexcept { return !broken_ && conn_->ok(); }
  // The underlying connection, e.g. to declare topology from the same thread.
  [[nodiscard]] Connection& connection() noexcept { return *conn_; }
  // Messages confirmed over this publisher's life.
  [[nodiscard]] std::uint64_t confirmed() const noexcept { return confirmed_total_; }

 private:
  explicit Publisher(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}
  int Send(const Message& message);
  Status WaitConfirms(std::span<const Message> messages, std::uint64_t first_tag);

  std::unique_ptr<Connection> conn_;
  bool broken_ = false;
  std::uint64_t next_tag_ = 1;  // delivery tag the broker gives the next published message
  std::uint64_t confirmed_total_ = 0;
  // Scratch reused across publishes to avoid per-message allocations.
  TableBuilder headers_builder_;
  char expiration_buf_[24] = {};
  std::vector<PublishOutcome> outcome_;
  std::vector<std::uint8_t> returned_;
  std::vector<std::string> return_reasons_;
};

}  // namespace chansum::amqp
