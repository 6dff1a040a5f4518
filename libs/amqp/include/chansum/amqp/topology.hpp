#pragma once
// Declaring queues and exchanges. Every declaration is idempotent: declaring again with the same
// arguments is a no-op. Declaring an existing queue with DIFFERENT arguments makes the broker close
// the channel (406 PRECONDITION_FAILED), which kills the Connection and returns a permanent error.
#include <cstdint>
#include <string>

#include "chansum/amqp/connection.hpp"
#include "chansum/amqp/headers.hpp"
#include "chansum/common/result.hpp"

namespace chansum::amqp {

struct QueueOptions {
  bool durable = true;
  bool exclusive = false;
  bool auto_delete = false;
  Headers arguments;  // x-queue-type, x-dead-letter-exchange, ...
};

struct QueueStats {
  std::uint32_t messages = 0;  // ready messages (not counting unacked deliveries)
  std::uint32_t consumers = 0;
};

[[nodiscard]] inline std::string RetryQueueName(const std::string& queue) {
  return queue + ".retry";
}
[[nodiscard]] inline std::string DeadLetterQueueName(const std::string& queue) {
  return queue + ".dlq";
}

// The three queues of a pipeline stage:
//   <queue>        durable quorum queue; x-delivery-limit = delivery_limit; a message delivered
//                  more often than that (rejected/requeued or its consumer died) is dead-lettered
//                  at least once (x-dead-letter-strategy at-least-once, x-overflow reject-publish)
//                  through the default exchange to <queue>.dlq.
//   <queue>.dlq    durable quorum queue holding poison messages for inspection and replay.
//   <queue>.retry  durable classic queue without consumers: publish a retry there with a
//                  per-message expiration (the backoff delay); when it expires it is dead-lettered
//                  back to <queue>. Classic queues expire messages only at the head, so a retry
//                  waits at most for the longer delays queued ahead of it.
[[nodiscard]] Status DeclareStageQueues(Connection& conn, const std::string& queue,
                                        int delivery_limit);

// A durable fanout exchange (e.g. "events").
[[nodiscard]] Status DeclareFanout(Connection& conn, const std::string& exchange);
[[nodiscard]] Status DeclareQueue(Connection& conn, const std::string& queue,
                                  const QueueOptions& options = {});
[[nodiscard]] Status BindQueue(Connection& conn, const std::string& queue,
                               const std::string& exchange, const std::string& routing_key = "");
// Passive declare: counts of an existing queue. A missing queue closes the channel (404), which
// kills the connection; the error is permanent.
[[nodiscard]] Result<QueueStats> InspectQueue(Connection& conn, const std::string& queue);
// Deletes a queue (whatever its contents) and returns how many messages it held; deleting a queue
// that does not exist succeeds with 0.
[[nodiscard]] Result<std::uint32_t> DeleteQueue(Connection& conn, const std::string& queue);
[[nodiscard]] Status DeleteExchange(Connection& conn, const std::string& exchange);

}  // namespace chansum::amqp
