#include "chansum/outbox/outbox.hpp"

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "chansum/service/backoff.hpp"

namespace chansum::outbox {
namespace {

constexpr const char* kChannel = "chansum_outbox";

// Prepared on every relay connection (EnsureConnected).
constexpr const char* kTakeTurn = "chansum_outbox_take_turn";
constexpr const char* kGiveTurn = "chansum_outbox_give_turn";
constexpr const char* kPending = "chansum_outbox_pending";
constexpr const char* kMarkPublished = "chansum_outbox_mark_published";
constexpr const char* kMarkFailed = "chansum_outbox_mark_failed";

// One relay at a time publishes a destination: the one whose session holds this advisory lock
// (per database, schema and destination). The others stand by and try again every idle_wait; when
// the holder's session ends (its process died, its connection broke) the lock is free at once.
// No row is claimed one by one, so publishing costs no write per row besides marking it.
constexpr const char* kTakeTurnSql =
    "SELECT pg_try_advisory_lock(hashtext('chansum_outbox_relay:' || current_schema() || ':' || "
    "$1))";
constexpr const char* kGiveTurnSql =
    "SELECT pg_advisory_unlock(hashtext('chansum_outbox_relay:' || current_schema() || ':' || "
    "$1))";

// Up to $2 pending rows of destination $1 in commit order, read without a lock (only the turn's
// holder reads them).
constexpr const char* kPendingSql =
    "SELECT id, exchange, routing_key, message_id, headers::text, coalesce(expiration_ms, -1), "
    "payload FROM outbox WHERE published_at IS NULL AND destination = $1 "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) ORDER BY id LIMIT $2";

// What the broker has: published (one statement for the batch).
constexpr const char* kMarkPublishedSql =
    "UPDATE outbox SET published_at = now(), publish_attempts = publish_attempts + 1, "
    "last_error = NULL, next_attempt_at = NULL "
    "WHERE id = ANY($1::bigint[]) AND published_at IS NULL";

// The rest waits on its own backoff when $3 (1 s doubling up to 5 min), else keeps its place.
constexpr const char* kMarkFailedSql =
    "UPDATE outbox SET publish_attempts = publish_attempts + 1, last_error = $2, "
    "next_attempt_at = CASE WHEN $3::boolean THEN now() + least(interval '5 minutes', "
    "interval '1 second' * power(2, least(publish_attempts, 9))) END "
    "WHERE id = ANY($1::bigint[]) AND published_at IS NULL";

// Listens for outbox notifications on the relay's connection.
class Wakeup final : public pqxx::notification_receiver {
 public:
  explicit Wakeup(pqxx::connection_base& c) : pqxx::notification_receiver(c, kChannel) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { woken_ = true; }
  bool woken_ = false;
};

}  // namespace

const char* ToString(Destination d) noexcept { return d == Destination::kAmqp ? "amqp" : "kafka"; }

void Enqueue(pqxx::work& txn, const Message& m) { EnqueueMany(txn, {m}); }

void EnqueueMany(pqxx::work& txn, const std::vector<Message>& messages) {
  if (messages.empty()) return;
  // The rows travel as one JSON array (safe for any text, no array-literal quoting) that
  // json_to_recordset expands in order, so ids follow the order given. The NOTIFY is delivered
  // at commit, and every notification of a transaction (same channel, same payload) folds into
  // one: a transaction wakes the relays once however many rows it writes.
  constexpr const char* kName = "chansum_outbox_enqueue_many";
  txn.conn().prepare(
      kName,
      "WITH r AS (INSERT INTO outbox (destination, exchange, routing_key, message_id, headers, "
      "expiration_ms, payload) SELECT d, e, k, m, h::jsonb, x, p FROM json_to_recordset($1::json) "
      "AS t(d text, e text, k text, m text, h text, x integer, p text) RETURNING 1) "
      "SELECT pg_notify('chansum_outbox', '') FROM (SELECT 1 FROM r LIMIT 1) one");
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& m : messages) {
    rows.push_back({{"d", ToString(m.destination)},
                    {"e", m.exchange},
                    {"k", m.routing_key},
                    {"m", m.message_id},
                    {"h", m.headers.dump()},
                    {"x", m.expiration_ms ? nlohmann::json(*m.expiration_ms) : nullptr},
                    {"p", m.payload}});
  }
  txn.exec_prepared(kName, rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Relay::Relay(std::function<std::unique_ptr<pqxx::connection>()> connect,
             std::unique_ptr<Sink> amqp_sink, std::unique_ptr<Sink> kafka_sink,
             RelayOptions options)
    : connect_(std::move(connect)),
      amqp_sink_(std::move(amqp_sink)),
      kafka_sink_(std::move(kafka_sink)),
      options_(options) {}

bool Relay::EnsureConnected() {
  if (conn_ && conn_->is_open()) return true;
  try {
    conn_ = connect_();
    if (!conn_ || !conn_->is_open()) return false;
    // The relay's own commits (its marks) need not wait for the WAL flush: losing one in a
    // PostgreSQL crash only makes a row pending again (published once more; consumers dedupe).
    // The rows themselves were committed durably by the transaction that wrote them.
    conn_->set_variable("synchronous_commit", "off");
    conn_->prepare(kTakeTurn, kTakeTurnSql);
    conn_->prepare(kGiveTurn, kGiveTurnSql);
    conn_->prepare(kPending, kPendingSql);
    conn_->prepare(kMarkPublished, kMarkPublishedSql);
    conn_->prepare(kMarkFailed, kMarkFailedSql);
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("outbox relay: cannot connect to PostgreSQL: {}", e.what());
    Disconnect();
    return false;
  }
}

void Relay::Disconnect() {
  has_turn_[0] = has_turn_[1] = false;  // a session that ends releases its advisory locks
  wakeup_.reset();
  conn_.reset();
}

Result<int> Relay::RelayDestination(Destination destination, Sink& sink) {
  const std::string dest(ToString(destination));
  // 1. This relay's turn for the destination (kept until its session ends or a publish fails),
  // then a batch of pending rows. Both are single statements in autocommit: no transaction stays
  // open while the broker is waited for, and nothing is written to read the batch.
  std::vector<Row> batch;
  {
    pqxx::nontransaction txn(*conn_);
    bool& has_turn = has_turn_[static_cast<int>(destination)];
    if (!has_turn) has_turn = txn.exec_prepared1(kTakeTurn, dest)[0].as<bool>();
    if (!has_turn) return 0;  // another relay's turn
    auto rows = txn.exec_prepared(kPending, dest, options_.batch_size);
    if (rows.empty()) return 0;
    batch.reserve(rows.size());
    for (const auto& r : rows) {
      Row row;
      row.id = r[0].as<std::int64_t>();
      row.message.destination = destination;
      row.message.exchange = r[1].as<std::string>();
      row.message.routing_key = r[2].as<std::string>();
      row.message.message_id = r[3].as<std::string>();
      row.message.headers = nlohmann::json::parse(r[4].c_str(), nullptr, false);
      if (const int exp = r[5].as<int>(); exp >= 0) row.message.expiration_ms = exp;
      row.message.payload = r[6].as<std::string>();
      batch.push_back(std::move(row));
    }
  }
  // 2. Publish the whole batch (RabbitMQ: confirms read as a stream; Kafka: all produced, then
  // the delivery reports). A crash from here until the mark below leaves the rows pending: they
  // are published again (a duplicate, which the consumers' guards absorb), never lost.
  std::vector<bool> delivered(batch.size(), false);
  auto published = sink.Publish(batch, delivered);
  auto id_array = [&](bool want) {
    std::string ids = "{";
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (delivered[i] != want) continue;
      if (ids.size() > 1) ids += ',';
      ids += std::to_string(batch[i].id);
    }
    return ids + '}';
  };
  const auto delivered_count =
      static_cast<int>(std::count(delivered.begin(), delivered.end(), true));
  // 3. Mark: what the broker has is published (one statement, its own transaction)...
  pqxx::nontransaction txn(*conn_);
  if (delivered_count > 0) txn.exec_prepared(kMarkPublished, id_array(true));
  // ...and the rest waits on its own backoff (1 s doubling up to 5 min), so a row the broker
  // refuses (e.g. its queue does not exist yet) never holds back the rows behind it. When
  // nothing of a larger batch went through, the broker itself is the likely problem: the rows
  // keep their place and the whole relay backs off instead.
  if (delivered_count < static_cast<int>(batch.size())) {
    const bool row_backoff = delivered_count > 0 || batch.size() == 1;
    const std::string reason =
        published.ok() ? std::string("not confirmed") : published.error().message;
    txn.exec_prepared(kMarkFailed, id_array(false), reason, row_backoff);
  }
  if (!published.ok()) {
    sink.Reset();
    // Give the turn away: another process may reach the broker when this one cannot.
    txn.exec_prepared(kGiveTurn, std::string(ToString(destination)));
    has_turn_[static_cast<int>(destination)] = false;
    // Nothing went through: the broker is likely down; let the caller back off.
    if (delivered_count == 0) return published.error();
    spdlog::warn("outbox relay: {} of {} {} rows not published, retried later: {}",
                 batch.size() - static_cast<std::size_t>(delivered_count), batch.size(),
                 ToString(destination), published.error().message);
  }
  return delivered_count;
}

Result<int> Relay::RelayOnce() {
  if (!EnsureConnected()) {
    return Error::Transient("postgres_unavailable", "outbox relay cannot reach PostgreSQL");
  }
  int total = 0;
  try {
    for (auto [dest, sink] : {std::pair{Destination::kAmqp, amqp_sink_.get()},
                              std::pair{Destination::kKafka, kafka_sink_.get()}}) {
      if (sink == nullptr) continue;
      auto n = RelayDestination(dest, *sink);
      if (!n.ok()) return n.error();
      total += *n;
    }
  } catch (const pqxx::broken_connection& e) {
    Disconnect();
    return Error::Transient("postgres_unavailable", e.what());
  } catch (const std::exception& e) {
    Disconnect();
    return Error::Transient("outbox_relay", e.what());
  }
  return total;
}

void Relay::Run(const std::atomic<bool>& stop) {
  service::Backoff backoff(options_.error_backoff, std::chrono::seconds(10),
                           [&stop] { return stop.load(); });
  while (!stop.load()) {
    auto n = RelayOnce();
    if (!n.ok()) {
      const auto wait = backoff.Next();
      spdlog::warn("outbox relay: {} (retrying in {} ms)", n.error().ToString(), wait.count());
      backoff.Sleep(wait);
      continue;
    }
    backoff.Reset();
    if (*n > 0) continue;  // more may be waiting
    try {
      if (!wakeup_) wakeup_ = std::make_unique<Wakeup>(*conn_);
      // Wait for a NOTIFY (or the idle timeout), in short slices so stop is noticed quickly.
      auto remaining = options_.idle_wait;
      while (!stop.load() && remaining.count() > 0) {
        const auto slice = std::min(remaining, std::chrono::milliseconds(100));
        if (conn_->await_notification(0, static_cast<long>(slice.count()) * 1000) > 0) break;
        remaining -= slice;
      }
    } catch (const std::exception& e) {
      spdlog::warn("outbox relay: lost PostgreSQL connection while idle: {}", e.what());
      Disconnect();
    }
  }
}

std::int64_t DeletePublished(pqxx::work& txn, std::chrono::seconds older_than, int window) {
  auto r = txn.exec_params(
      "WITH oldest AS (SELECT id FROM outbox ORDER BY id LIMIT $2) "
      "DELETE FROM outbox o USING oldest WHERE o.id = oldest.id AND o.published_at IS NOT NULL "
      "AND o.published_at < now() - make_interval(secs => $1)",
      static_cast<double>(older_than.count()), window);
  return static_cast<std::int64_t>(r.affected_rows());
}

Result<std::int64_t> Relay::Backlog() {
  if (!EnsureConnected()) {
    return Error::Transient("postgres_unavailable", "outbox relay cannot reach PostgreSQL");
  }
  try {
    pqxx::read_transaction txn(*conn_);
    return txn.exec("SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]
        .as<std::int64_t>();
  } catch (const std::exception& e) {
    Disconnect();
    return Error::Transient("postgres_unavailable", e.what());
  }
}

}  // namespace chansum::outbox
