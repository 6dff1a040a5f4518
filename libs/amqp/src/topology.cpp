#include "chansum/amqp/topology.hpp"

#include "bytes.hpp"

namespace chansum::amqp {

using detail::BytesToString;
using detail::View;
namespace {}  // namespace

Status DeclareQueue(Connection& conn, const std::string& queue, const QueueOptions& options) {
  const std::string what = "queue.declare '" + queue + "'";
  if (auto st = conn.CheckUsable(what); !st.ok()) return st;
  TableBuilder builder;
  amqp_queue_declare(conn.raw(), Connection::kChannel, View(queue), /*passive=*/0,
                     options.durable ? 1 : 0, options.exclusive ? 1 : 0,
                     options.auto_delete ? 1 : 0, builder.Build(options.arguments));
  return conn.CheckReply(amqp_get_rpc_reply(conn.raw()), what);
}

Status DeclareStageQueues(Connection& conn, const std::string& queue, int delivery_limit) {
  const std::string dlq = DeadLetterQueueName(queue);
  const std::string retry = RetryQueueName(queue);

  QueueOptions dlq_options;
  dlq_options.arguments = {{"x-queue-type", std::string("quorum")}};
  if (auto st = DeclareQueue(conn, dlq, dlq_options); !st.ok()) return st;

  QueueOptions main_options;
  main_options.arguments = {
      {"x-queue-type", std::string("quorum")},
      {"x-delivery-limit", std::int64_t{delivery_limit}},
      {"x-dead-letter-exchange", std::string()},
      {"x-dead-letter-routing-key", dlq},
      {"x-dead-letter-strategy", std::string("at-least-once")},
      {"x-overflow", std::string("reject-publish")},
  };
  if (auto st = DeclareQueue(conn, queue, main_options); !st.ok()) return st;

  QueueOptions retry_options;
  retry_options.arguments = {
      {"x-queue-type", std::string("classic")},
      {"x-dead-letter-exchange", std::string()},
      {"x-dead-letter-routing-key", queue},
  };
  return DeclareQueue(conn, retry, retry_options);
}

Status DeclareFanout(Connection& conn, const std::string& exchange) {
  const std::string what = "exchange.declare '" + exchange + "'";
  if (auto st = conn.CheckUsable(what); !st.ok()) return st;
  amqp_exchange_declare(conn.raw(), Connection::kChannel, View(exchange),
                        amqp_cstring_bytes("fanout"), /*passive=*/0, /*durable=*/1,
                        /*auto_delete=*/0, /*internal=*/0, amqp_empty_table);
  return conn.CheckReply(amqp_get_rpc_reply(conn.raw()), what);
}

Status BindQueue(Connection& conn, const std::string& queue, const std::string& exchange,
                 const std::string& routing_key) {
  const std::string what = "queue.bind '" + queue + "' to '" + exchange + "'";
  if (auto st = conn.CheckUsable(what); !st.ok()) return st;
  amqp_queue_bind(conn.raw(), Connection::kChannel, View(queue), View(exchange), View(routing_key),
                  amqp_empty_table);
  return conn.CheckReply(amqp_get_rpc_reply(conn.raw()), what);
}

Result<QueueStats> InspectQueue(Connection& conn, const std::string& queue) {
  const std::string what = "queue.declare (passive) '" + queue + "'";
  if (auto st = conn.CheckUsable(what); !st.ok()) return std::move(st).error();
  amqp_queue_declare_ok_t* ok = amqp_queue_declare(conn.raw(), Connection::kChannel, View(queue),
                                                   /*passive=*/1, 0, 0, 0, amqp_empty_table);
  if (auto st = conn.CheckReply(amqp_get_rpc_reply(conn.raw()), what); !st.ok()) {
    return std::move(st).error();
  }
  return QueueStats{ok->message_count, ok->consumer_count};
}

Result<std::uint32_t> DeleteQueue(Connection& conn, const std::string& queue) {
  const std::string what = "queue.delete '" + queue + "'";
  if (auto st = conn.CheckUsable(what); !st.ok()) return std::move(st).error();
  amqp_queue_delete_ok_t* ok = amqp_queue_delete(conn.raw(), Connection::kChannel, View(queue),
                                                 /*if_unused=*/0, /*if_empty=*/0);
  if (auto st = conn.CheckReply(amqp_get_rpc_reply(conn.raw()), what); !st.ok()) {
    return std::move(st).error();
  }
  return ok->message_count;
}

Status DeleteExchange(Connection& conn, const std::string& exchange) {
  const std::string what = "exchange.delete '" + exchange + "'";
  if (auto st = conn.CheckUsable(what); !st.ok()) return st;
  amqp_exchange_delete(conn.raw(), Connection::kChannel, View(exchange), /*if_unused=*/0);
  return conn.CheckReply(amqp_get_rpc_reply(conn.raw()), what);
}

}  // namespace chansum::amqp
