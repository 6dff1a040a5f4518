#pragma once
// Transactional outbox. A state change and the messages it causes are written in ONE PostgreSQL
// transaction (Enqueue); a Relay later publishes the rows to the broker and marks them published
// only once the broker has confirmed them. No dual writes: a crash between commit and publish
// leaves the row pending, and the relay publishes it later (at least once; consumers dedupe).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chansum/common/result.hpp"

namespace chansum::outbox {

enum class Destination { kAmqp, kKafka };

struct Message {
  Destination destination = Destination::kAmqp;
  std::string exchange;     // amqp exchange ("" = default exchange) or kafka topic
  std::string routing_key;  // amqp routing key (queue name) or kafka key
  std::string message_id;
  nlohmann::json headers = nlohmann::json::object();  // string or integer values
  std::optional<int> expiration_ms;                   // amqp per-message TTL
  std::string payload;
};

// A row read back by the relay.
struct Row {
  std::int64_t id = 0;
  Message message;
};

// Writes the message in the caller's transaction and wakes relays (NOTIFY on commit).
void Enqueue(pqxx::work& txn, const Message& message);
// Writes every message in ONE statement (a multi-row INSERT, rows in the order given) and one
// wake-up for the relays: what a batched transition writes costs one round trip however many
// commands and events it causes. Nothing is written for an empty list.
void EnqueueMany(pqxx::work& txn, const std::vector<Message>& messages);

// Where the relay sends rows. Publish returns OK only when the broker has every row of the batch
// (RabbitMQ confirms / Kafka delivery reports); any error leaves the whole batch pending.
class Sink {
 public:
  virtual ~Sink() = default;
  // Sets delivered[i] (sized like rows, all false on entry) for every row the broker has; the
  // error, if any, describes the rest. Rows not delivered stay pending and are retried later.
  [[nodiscard]] virtual Status Publish(const std::vector<Row>& rows,
                                       std::vector<bool>& delivered) = 0;
  // Drops broken connections so the next Publish starts afresh.
  virtual void Reset() {}
};

struct RelayOptions {
  int batch_size = 500;
  std::chrono::milliseconds idle_wait{200};      // longest sleep when idle (NOTIFY wakes earlier)
  std::chrono::milliseconds error_backoff{500};  // first backoff after a failure (doubles, capped)
};

// Publishes pending rows. Several relays (one per service process) may run at once; one at a
// time publishes each destination (its "turn": a session-level advisory lock per database, schema
// and destination, free again the moment its session ends, and given away when a publish fails),
// the others stand by. A round reads a batch of pending rows in id order (one statement, no
// transaction open and nothing written), publishes it, then marks what the broker confirmed
// published in one statement. A row is never marked before the broker has it; a crash between
// publish and mark publishes it again (at least once). The relay's commits are asynchronous
// (synchronous_commit off): losing one in a database crash only makes rows pending again.
class Relay {
 public:
  // `connect` opens a PostgreSQL connection (called again after a connection loss).
  Relay(std::function<std::unique_ptr<pqxx::connection>()> connect, std::unique_ptr<Sink> amqp_sink,
        std::unique_ptr<Sink> kafka_sink, RelayOptions options);

  // Publishes one batch per destination; returns how many rows were published.
  [[nodiscard]] Result<int> RelayOnce();
  // Loops until `stop` becomes true, waiting for NOTIFY or idle_wait between empty rounds.
  void Run(const std::atomic<bool>& stop);
  // Rows still pending (for readiness and metrics).
  [[nodiscard]] Result<std::int64_t> Backlog();

 private:
  Result<int> RelayDestination(Destination destination, Sink& sink);
  bool EnsureConnected();
  void Disconnect();  // drops the LISTEN receiver first, then the connection

  std::function<std::unique_ptr<pqxx::connection>()> connect_;
  std::unique_ptr<Sink> amqp_sink_;
  std::unique_ptr<Sink> kafka_sink_;
  RelayOptions options_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::notification_receiver> wakeup_;  // LISTEN on conn_
  // Destinations whose turn this relay's session holds (the advisory lock is re-entrant: it is
  // taken once and released once, never stacked).
  bool has_turn_[2] = {false, false};
};

[[nodiscard]] const char* ToString(Destination d) noexcept;

// Deletes rows published more than `older_than` ago, among the `window` oldest rows of the table
// (the primary key walks them; rows still pending are left alone). Returns how many went; call
// again while it returns a full window's worth. Keeps the table from growing forever.
std::int64_t DeletePublished(pqxx::work& txn, std::chrono::seconds older_than, int window = 10000);

}  // namespace chansum::outbox
