#pragma once
// Consuming with manual acks on a dedicated connection.
//
// Threading contract: Next, Ack, Nack, Reject and Cancel are called from the ONE thread that owns
// the Consumer (librabbitmq is not thread-safe). A stage runner keeps that thread as its AMQP I/O
// thread: it calls Next with a short timeout in a loop (which also services heartbeats), hands
// deliveries to a worker pool, and applies the acks the workers send back (e.g. through a queue it
// drains between Next calls). A worker must never touch the Consumer itself.
//
// Errors: any failure (socket, heartbeat timeout, channel/connection closed by the server, the
// server cancelling the consumer because its queue was deleted) is returned as an Error and the
// Consumer is dead (ok() false). Unacked deliveries then go back to the queue on the broker and
// are redelivered with redelivered=true; drop the Consumer and open a new one (with backoff).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "chansum/amqp/config.hpp"
#include "chansum/amqp/connection.hpp"
#include "chansum/amqp/headers.hpp"
#include "chansum/common/result.hpp"

namespace chansum::amqp {

struct ConsumerOptions {
  std::string queue;
  std::uint16_t prefetch = 1;  // most unacked deliveries handed out at once (basic.qos)
  std::string consumer_tag;    // empty: the broker picks one
  bool exclusive = false;
};

struct Delivery {
  std::uint64_t delivery_tag = 0;
  std::string body;
  std::string routing_key;
  std::string exchange;
  bool redelivered = false;
  std::string message_id;
  std::string content_type;
  Headers headers;  // quorum queues add x-delivery-count (integer) on redeliveries

  // x-delivery-count, or 0 on a first delivery.
  [[nodiscard]] std::int64_t delivery_count() const {
    return HeaderInt(headers, "x-delivery-count").value_or(0);
  }
};

class Consumer {
 public:
  // Opens a connection named `name`, sets basic.qos(prefetch) and starts basic.consume with
  // manual acks on options.queue (which must exist).
  [[nodiscard]] static Result<std::unique_ptr<Consumer>> Open(const AmqpConfig& config,
                                                              std::string name,
                                                              ConsumerOptions options);

  // Waits up to `timeout` for the next delivery; nullopt when none arrived in time. Services
  // heartbeats while it waits, so call it at least every heartbeat interval.
  [[nodiscard]] Result<std::optional<Delivery>> Next(std::chrono::milliseconds timeout);

  // Waits up to `timeout` until Next has something to read (a frame already buffered, or data on
  // the socket) or `wake_fd` (e.g. an eventfd other threads write to; -1: none) is readable, so the
  // owning thread can sleep on both deliveries and its workers' results. Returns true when woken
  // through `wake_fd` (the caller drains it). Call Next afterwards (with a zero timeout) at least
  // every heartbeat interval.
  [[nodiscard]] bool WaitReadable(std::chrono::milliseconds timeout, int wake_fd);
  // basic.ack; multiple=true acks every outstanding delivery up to and including `tag`.
  [[nodiscard]] Status Ack(std::uint64_t tag, bool multiple = false);
  // basic.nack; requeue=false dead-letters (to <queue>.dlq for stage queues).
  [[nodiscard]] Status Nack(std::uint64_t tag, bool requeue, bool multiple = false);
  // basic.reject (one delivery).
  [[nodiscard]] Status Reject(std::uint64_t tag, bool requeue);
  // basic.cancel: no new deliveries (already received ones can still be returned by Next and
  // acked). For graceful shutdown.
  [[nodiscard]] Status Cancel();

  [[nodiscard]] bool ok() const noexcept { return conn_->ok(); }
  [[nodiscard]] const std::string& consumer_tag() const noexcept { return consumer_tag_; }
  [[nodiscard]] const std::string& queue() const noexcept { return options_.queue; }
  [[nodiscard]] Connection& connection() noexcept { return *conn_; }

 private:
  Consumer(std::unique_ptr<Connection> conn, ConsumerOptions options)
      : conn_(std::move(conn)), options_(std::move(options)) {}

  std::unique_ptr<Connection> conn_;
  ConsumerOptions options_;
  std::string consumer_tag_;
};

}  // namespace chansum::amqp
