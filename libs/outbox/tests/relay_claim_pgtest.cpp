// The relay's protocol against a real PostgreSQL (DATABASE_URL), with a recording Sink in place of
// a broker: a batch is read and published with no row lock and no transaction held while the
// broker is waited for, one relay at a time has the turn (another takes it when the holder's
// session is gone or its publish failed), only what the sink delivered is marked published (in
// one round), Enqueue wakes listeners once per transaction, EnqueueMany keeps order and text, and
// DeletePublished removes only old published rows.
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "chansum/common/config.hpp"
#include "chansum/outbox/outbox.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/store/store.hpp"

namespace chansum::outbox {
namespace {

std::string RandomName() {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 8; ++i) s += kChars[rd() % (sizeof(kChars) - 1)];
  return s;
}

// Records every Publish; `during` runs inside Publish (while the relay waits for "the broker");
// `deliver` decides per row whether the broker has it.
class RecordingSink final : public Sink {
 public:
  Status Publish(const std::vector<Row>& rows, std::vector<bool>& delivered) override {
    batches.push_back(rows);
    if (during) during(rows);
    bool all = true;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      delivered[i] = deliver ? deliver(i) : true;
      all = all && delivered[i];
    }
    if (all) return OkStatus();
    return Error::Transient("test_nack", "the test broker refused some rows");
  }
  std::vector<std::vector<Row>> batches;
  std::function<void(const std::vector<Row>&)> during;
  std::function<bool(std::size_t)> deliver;
};

class RelayClaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("DATABASE_URL");
    if (url == nullptr || *url == '\0') {
      GTEST_FAIL() << "DATABASE_URL is not set: start the stack and run "
                      "eval \"$(deploy/local/stack env)\" before the integration tests";
    }
    ConfigReader env;
    pg_ = pg::PgConfig::FromEnv(env);
    env.Finish();
    // A private schema: the rows of this test are invisible to other relays on the stack.
    schema_ = "test_claim_" + RandomName();
    {
      auto admin = pg::Connect(pg_);
      ASSERT_TRUE(admin.ok()) << admin.error().ToString();
      pqxx::work txn(**admin);
      txn.exec0("CREATE SCHEMA " + txn.quote_name(schema_));
      txn.commit();
    }
    pg_.search_path = schema_;
    auto conn = pg::Connect(pg_);
    ASSERT_TRUE(conn.ok()) << conn.error().ToString();
    auto applied = store::Migrate(**conn);
    ASSERT_TRUE(applied.ok()) << applied.error().ToString();
    conn_ = std::move(*conn);
  }

  void TearDown() override {
    conn_.reset();
    if (schema_.empty()) return;
    pg::PgConfig admin_config = pg_;
    admin_config.search_path.clear();
    if (auto admin = pg::Connect(admin_config); admin.ok()) {
      pqxx::work txn(**admin);
      txn.exec0("DROP SCHEMA IF EXISTS " + txn.quote_name(schema_) + " CASCADE");
      txn.commit();
    }
  }

  std::function<std::unique_ptr<pqxx::connection>()> Connector() const {
    return [cfg = pg_]() -> std::unique_ptr<pqxx::connection> {
      auto c = pg::Connect(cfg);
      if (!c.ok()) throw std::runtime_error(c.error().message);
      return std::move(*c);
    };
  }

  // Writes `n` amqp rows in one transaction; returns their ids in order.
  std::vector<std::int64_t> Write(int n) {
    pqxx::work txn(*conn_);
    for (int i = 0; i < n; ++i) {
      Message m;
      m.routing_key = "q";
      m.message_id = "m-" + std::to_string(i);
      m.payload = "{\"i\":" + std::to_string(i) + "}";
      Enqueue(txn, m);
    }
    std::vector<std::int64_t> ids;
    for (const auto& r :
         txn.exec("SELECT id FROM outbox ORDER BY id DESC LIMIT " + std::to_string(n))) {
      ids.insert(ids.begin(), r[0].as<std::int64_t>());
    }
    txn.commit();
    return ids;
  }

  std::int64_t Count(const std::string& where) {
    pqxx::work txn(*conn_);
    return txn.exec1("SELECT count(*) FROM outbox WHERE " + where)[0].as<std::int64_t>();
  }

  pg::PgConfig pg_;
  std::string schema_;
  std::unique_ptr<pqxx::connection> conn_;
};

TEST_F(RelayClaimTest, PublishesABatchWithNoTransactionOpenThenMarksIt) {
  const auto ids = Write(50);
  auto sink = std::make_unique<RecordingSink>();
  RecordingSink* s = sink.get();
  bool checked = false;
  s->during = [&](const std::vector<Row>& rows) {
    // While the relay waits for the broker: no row is locked...
    pqxx::work txn(*conn_);
    auto unlocked = txn.exec("SELECT id FROM outbox WHERE published_at IS NULL FOR UPDATE NOWAIT");
    EXPECT_EQ(unlocked.size(), rows.size());
    // ...and the relay's session (the holder of the turn) has no transaction open.
    const std::string holder =
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND "
        "objid::bigint = (hashtext('chansum_outbox_relay:' || current_schema() || ':amqp')::bigint"
        " & 4294967295)";
    auto open = txn.exec1("SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + holder +
                          ") AND state LIKE 'idle in transaction%'");
    EXPECT_EQ(open[0].as<int>(), 0);
    EXPECT_EQ(txn.exec("" + holder).size(), 1U);
    txn.commit();
    // A second relay finds nothing to do: it is not its turn.
    auto other = std::make_unique<RecordingSink>();
    RecordingSink* o = other.get();
    Relay second(Connector(), std::move(other), nullptr, RelayOptions{});
    auto n = second.RelayOnce();
    ASSERT_TRUE(n.ok()) << n.error().ToString();
    EXPECT_EQ(*n, 0);
    EXPECT_TRUE(o->batches.empty());
    checked = true;
  };
  Relay relay(Connector(), std::move(sink), nullptr, RelayOptions{});
  auto n = relay.RelayOnce();
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_TRUE(checked);
  EXPECT_EQ(*n, 50);
  // Several rows per round, in commit order.
  ASSERT_EQ(s->batches.size(), 1U);
  ASSERT_EQ(s->batches[0].size(), 50U);
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(s->batches[0][i].id, ids[i]);
  EXPECT_EQ(s->batches[0][7].message.message_id, "m-7");
  EXPECT_EQ(Count("published_at IS NOT NULL AND publish_attempts = 1"), 50);
  // Nothing left: the next round publishes nothing.
  auto again = relay.RelayOnce();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

TEST_F(RelayClaimTest, OnlyWhatTheBrokerHasIsMarkedPublished) {
  Write(4);
  auto sink = std::make_unique<RecordingSink>();
  RecordingSink* s = sink.get();
  s->deliver = [](std::size_t i) { return i % 2 == 0; };
  Relay relay(Connector(), std::move(sink), nullptr, RelayOptions{});
  auto n = relay.RelayOnce();
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(Count("published_at IS NOT NULL"), 2);
  // The rest stays pending, unclaimed, on its own backoff, with the reason.
  EXPECT_EQ(Count("published_at IS NULL AND claimed_by IS NULL AND next_attempt_at > now() AND "
                  "last_error LIKE '%refused%'"),
            2);
  // Nothing delivered at all: the rows keep their place (no backoff) and the relay reports the
  // broker's error so its loop backs off.
  pqxx::work txn(*conn_);
  txn.exec0("UPDATE outbox SET next_attempt_at = NULL WHERE published_at IS NULL");
  txn.commit();
  s->deliver = [](std::size_t) { return false; };
  auto failed = relay.RelayOnce();
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(Count("published_at IS NULL AND claimed_by IS NULL AND next_attempt_at IS NULL"), 2);
}

TEST_F(RelayClaimTest, AnotherRelayTakesTheTurnWhenTheHolderIsGone) {
  Write(3);
  auto first_sink = std::make_unique<RecordingSink>();
  auto first = std::make_unique<Relay>(Connector(), std::move(first_sink), nullptr, RelayOptions{});
  auto n = first->RelayOnce();
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 3);
  // The first relay keeps its turn: a second one publishes nothing of the new rows...
  Write(2);
  auto second_sink = std::make_unique<RecordingSink>();
  RecordingSink* s = second_sink.get();
  Relay second(Connector(), std::move(second_sink), nullptr, RelayOptions{});
  auto none = second.RelayOnce();
  ASSERT_TRUE(none.ok()) << none.error().ToString();
  EXPECT_EQ(*none, 0);
  EXPECT_EQ(Count("published_at IS NULL"), 2);
  // ...until the first one's session is gone (its process died): then at once.
  first.reset();
  for (int i = 0; i < 50 && Count("published_at IS NULL") > 0; ++i) {
    auto more = second.RelayOnce();
    ASSERT_TRUE(more.ok()) << more.error().ToString();
    if (Count("published_at IS NULL") > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_EQ(Count("published_at IS NULL"), 0);
  ASSERT_EQ(s->batches.size(), 1U);
  EXPECT_EQ(s->batches[0].size(), 2U);
}

TEST_F(RelayClaimTest, AFailedPublishGivesTheTurnAway) {
  auto failing_sink = std::make_unique<RecordingSink>();
  RecordingSink* f = failing_sink.get();
  Relay failing(Connector(), std::move(failing_sink), nullptr, RelayOptions{});
  // It has published several rounds (its turn is taken once, not once per round)...
  for (int i = 0; i < 3; ++i) {
    Write(1);
    auto n = failing.RelayOnce();
    ASSERT_TRUE(n.ok()) << n.error().ToString();
    EXPECT_EQ(*n, 1);
  }
  // ...then its broker becomes unreachable while another relay's is not: that one publishes.
  Write(2);
  f->deliver = [](std::size_t) { return false; };
  EXPECT_FALSE(failing.RelayOnce().ok());
  auto ok_sink = std::make_unique<RecordingSink>();
  Relay working(Connector(), std::move(ok_sink), nullptr, RelayOptions{});
  auto n = working.RelayOnce();
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(Count("published_at IS NULL"), 0);
}

TEST_F(RelayClaimTest, EnqueueWakesListenersOncePerTransaction) {
  auto listener = Connector()();
  struct Receiver final : pqxx::notification_receiver {
    explicit Receiver(pqxx::connection_base& c)
        : pqxx::notification_receiver(c, "chansum_outbox") {}
    void operator()(const std::string&, int) override { ++count; }
    int count = 0;
  } receiver(*listener);
  Write(5);
  // Notifications of one transaction arrive together at its commit.
  for (int i = 0; i < 20 && receiver.count == 0; ++i) listener->await_notification(0, 100'000);
  listener->get_notifs();
  EXPECT_EQ(receiver.count, 1);
  EXPECT_EQ(Count("published_at IS NULL"), 5);
}

TEST_F(RelayClaimTest, EnqueueManyWritesRowsInOrderInOneStatement) {
  std::vector<Message> messages;
  for (int i = 0; i < 5; ++i) {
    Message m;
    m.routing_key = "q";
    m.message_id = "many-" + std::to_string(i);
    m.headers = {{"x-n", i}};
    if (i == 2) m.expiration_ms = 1500;
    // Any text survives, quotes and backslashes included.
    m.payload = "{\"i\":" + std::to_string(i) + ",\"s\":\"a\\\\b \\\"q\\\"\"}";
    messages.push_back(m);
  }
  {
    pqxx::work txn(*conn_);
    EnqueueMany(txn, messages);
    EnqueueMany(txn, {});  // nothing
    txn.commit();
  }
  pqxx::work txn(*conn_);
  auto rows = txn.exec(
      "SELECT message_id, payload, headers->>'x-n', coalesce(expiration_ms, -1) FROM outbox "
      "ORDER BY id");
  ASSERT_EQ(rows.size(), messages.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i][0].as<std::string>(), messages[i].message_id);
    EXPECT_EQ(rows[i][1].as<std::string>(), messages[i].payload);
    EXPECT_EQ(rows[i][2].as<int>(), static_cast<int>(i));
    EXPECT_EQ(rows[i][3].as<int>(), i == 2 ? 1500 : -1);
  }
}

TEST_F(RelayClaimTest, DeletePublishedRemovesOnlyOldPublishedRows) {
  const auto ids = Write(30);
  {
    pqxx::work txn(*conn_);
    // 10 published long ago, 10 published just now, 10 still pending.
    txn.exec_params("UPDATE outbox SET published_at = now() - interval '2 hours' WHERE id <= $1",
                    ids[9]);
    txn.exec_params("UPDATE outbox SET published_at = now() WHERE id > $1 AND id <= $2", ids[9],
                    ids[19]);
    txn.commit();
  }
  {
    pqxx::work txn(*conn_);
    EXPECT_EQ(DeletePublished(txn, std::chrono::hours(1), /*window=*/25), 10);
    txn.commit();
  }
  EXPECT_EQ(Count("true"), 20);
  EXPECT_EQ(Count("published_at IS NULL"), 10);
  EXPECT_EQ(Count("id <= " + std::to_string(ids[9])), 0);
}

}  // namespace
}  // namespace chansum::outbox
