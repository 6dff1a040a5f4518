// ConnectionPool and WithTransaction against the real PostgreSQL at DATABASE_URL.
#include <atomic>
#include <chrono>
#include <latch>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "chansum/pg/pg.hpp"
#include "pg_test_support.hpp"

namespace chansum::pg {
namespace {

using namespace std::chrono_literals;

class PoolTest : public testing::SchemaTest {
 protected:
  void CreateCounter() {
    Query(
        "CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL);"
        "INSERT INTO counter VALUES (1, 0), (2, 0)");
  }
  int CounterValue(int id) {
    return Query("SELECT n FROM counter WHERE id = " + std::to_string(id))[0][0].as<int>();
  }
  // Kills a backend from another session and waits until it is gone.
  void Terminate(int pid) {
    auto conn = Open();
    pqxx::nontransaction ntx(*conn);
    ASSERT_TRUE(ntx.exec_params1("SELECT pg_terminate_backend($1)", pid)[0].as<bool>());
    for (int i = 0; i < 100; ++i) {
      if (ntx.exec_params("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid).empty()) return;
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "backend " << pid << " did not go away";
  }
};

int BackendPid(pqxx::work& txn) { return txn.exec1("SELECT pg_backend_pid()")[0].as<int>(); }

TEST_F(PoolTest, WriteThenReadRoundTrip) {
  ConnectionPool pool(config_, 2);
  Status created = WithTransaction(pool, [](pqxx::work& txn) {
    txn.exec0("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)");
    txn.exec_params0("INSERT INTO notes VALUES ($1, $2)", 7, "héllo \"world\"");
  });
  ASSERT_TRUE(created.ok()) << created.error().ToString();

  Result<std::string> body = WithTransaction(pool, [](pqxx::work& txn) {
    return txn.exec_params1("SELECT body FROM notes WHERE id = $1", 7)[0].as<std::string>();
  });
  ASSERT_TRUE(body.ok()) << body.error().ToString();
  EXPECT_EQ(*body, "héllo \"world\"");
  // Committed for everybody, in the test's schema.
  EXPECT_EQ(Query("SELECT count(*) FROM " + schema_ + ".notes")[0][0].as<int>(), 1);
  EXPECT_LE(pool.stats().created, 2u);
}

TEST_F(PoolTest, ErrorResultRollsBack) {
  CreateCounter();
  ConnectionPool pool(config_, 1);
  Result<int> r = WithTransaction(pool, [](pqxx::work& txn) -> Result<int> {
    txn.exec0("UPDATE counter SET n = 42 WHERE id = 1");
    return Error::Permanent("nope", "changed my mind");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "nope");
  EXPECT_EQ(CounterValue(1), 0);

  Result<int> ok = WithTransaction(pool, [](pqxx::work& txn) -> Result<int> {
    txn.exec0("UPDATE counter SET n = 42 WHERE id = 1");
    return 42;
  });
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(CounterValue(1), 42);
}

TEST_F(PoolTest, SqlErrorIsPermanentAndNotRetried) {
  CreateCounter();
  ConnectionPool pool(config_, 1);
  int calls = 0;
  Status s = WithTransaction(pool, [&](pqxx::work& txn) {
    ++calls;
    txn.exec0("UPDATE counter SET n = 1 WHERE id = 1");
    txn.exec0("INSERT INTO counter VALUES (1, 5)");  // duplicate key
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().cls, ErrorClass::kPermanent);
  EXPECT_EQ(s.error().code, "pg_sql");
  EXPECT_NE(s.error().message.find("23505"), std::string::npos) << s.error().message;
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(CounterValue(1), 0);  // rolled back
  // The connection is still good and went back to the pool.
  EXPECT_TRUE(WithTransaction(pool, [](pqxx::work& txn) { txn.exec("SELECT 1"); }).ok());
  EXPECT_EQ(pool.stats().created, 1u);
}

TEST_F(PoolTest, AcquireTimesOutWhenAllLeasedAndReusesReturnedConnection) {
  ConnectionPool pool(config_, 1);
  int first_pid = 0;
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.error().ToString();
    first_pid = (*lease)->backendpid();
    const auto start = std::chrono::steady_clock::now();
    auto second = pool.Acquire(150ms);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, "pg_pool_timeout");
    EXPECT_EQ(second.error().cls, ErrorClass::kTransient);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  }
  auto again = pool.Acquire(150ms);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->backendpid(), first_pid);
  EXPECT_EQ(pool.stats().created, 1u);
}

TEST_F(PoolTest, WaiterGetsConnectionWhenReleased) {
  ConnectionPool pool(config_, 1);
  auto lease = pool.Acquire();
  ASSERT_TRUE(lease.ok());
  std::thread releaser([l = std::move(*lease)]() mutable {
    std::this_thread::sleep_for(100ms);
    auto done = std::move(l);  // ends the lease
  });
  auto waited = pool.Acquire(5s);
  releaser.join();
  EXPECT_TRUE(waited.ok());
}

TEST_F(PoolTest, ManyThreadsShareABoundedPool) {
  CreateCounter();
  ConnectionPool pool(config_, 2, 10s);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        Status s = WithTransaction(
            pool, [](pqxx::work& txn) { txn.exec0("UPDATE counter SET n = n + 1 WHERE id = 1"); });
        if (!s.ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(CounterValue(1), 100);
  EXPECT_LE(pool.stats().created, 2u);
  EXPECT_LE(pool.stats().open, 2u);
}

TEST_F(PoolTest, BrokenIdleConnectionIsReplaced) {
  ConnectionPool pool(config_, 1);
  Result<int> pid1 = WithTransaction(pool, BackendPid);
  ASSERT_TRUE(pid1.ok()) << pid1.error().ToString();
  Terminate(*pid1);

  Result<int> pid2 = WithTransaction(pool, BackendPid);
  ASSERT_TRUE(pid2.ok()) << pid2.error().ToString();
  EXPECT_NE(*pid2, *pid1);
  EXPECT_EQ(pool.stats().created, 2u);
  EXPECT_GE(pool.stats().dropped, 1u);
  // And the replacement stays in use.
  Result<int> pid3 = WithTransaction(pool, BackendPid);
  ASSERT_TRUE(pid3.ok());
  EXPECT_EQ(*pid3, *pid2);
}

TEST_F(PoolTest, ConnectionLostInsideTransactionIsRetriedOnceOnANewConnection) {
  CreateCounter();
  ConnectionPool pool(config_, 2);
  int calls = 0;
  std::vector<int> pids;
  Status s = WithTransaction(pool, [&](pqxx::work& txn) {
    ++calls;
    txn.exec0("UPDATE counter SET n = n + 1 WHERE id = 1");
    pids.push_back(BackendPid(txn));
    if (calls == 1) {
      Terminate(pids.back());
      txn.exec("SELECT 1");  // throws pqxx::broken_connection
    }
  });
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(pids.size(), 2u);
  EXPECT_NE(pids[0], pids[1]);
  EXPECT_EQ(CounterValue(1), 1);  // the first attempt's update died with its session
}

TEST_F(PoolTest, ConnectionLostTwiceIsTransientError) {
  ConnectionPool pool(config_, 1);
  int calls = 0;
  Status s = WithTransaction(pool, [&](pqxx::work& txn) {
    ++calls;
    Terminate(BackendPid(txn));
    txn.exec("SELECT 1");
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().cls, ErrorClass::kTransient);
  EXPECT_EQ(s.error().code, "pg_connection_lost");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(pool.stats().open, 0u);  // both broken connections were dropped
}

TEST_F(PoolTest, DeadlockIsRetriedOnce) {
  CreateCounter();
  ConnectionPool pool(config_, 2, 10s);
  std::latch both_hold_one_lock(2);
  std::atomic<int> calls{0};
  auto worker = [&](int first, int second) {
    int attempt = 0;
    return WithTransaction(pool, [&, first, second](pqxx::work& txn) {
      ++calls;
      ++attempt;
      // The victim's retry waits for the survivor to commit; racing it could deadlock again.
      if (attempt == 2) std::this_thread::sleep_for(300ms);
      txn.exec0("UPDATE counter SET n = n + 1 WHERE id = " + std::to_string(first));
      if (attempt == 1) both_hold_one_lock.arrive_and_wait();
      txn.exec0("UPDATE counter SET n = n + 1 WHERE id = " + std::to_string(second));
    });
  };
  Status a = OkStatus(), b = OkStatus();
  std::thread ta([&] { a = worker(1, 2); });
  std::thread tb([&] { b = worker(2, 1); });
  ta.join();
  tb.join();
  EXPECT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_EQ(calls.load(), 3);  // exactly one of them was the deadlock victim and ran again
  EXPECT_EQ(CounterValue(1), 2);
  EXPECT_EQ(CounterValue(2), 2);
}

TEST_F(PoolTest, SerializationFailureIsRetriedOnce) {
  CreateCounter();
  ConnectionPool pool(config_, 2, 10s);
  std::latch both_have_snapshots(2);
  std::atomic<int> calls{0};
  auto worker = [&] {
    int attempt = 0;
    return WithTransaction(pool, [&](pqxx::work& txn) {
      ++calls;
      ++attempt;
      txn.exec0("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      txn.exec1("SELECT n FROM counter WHERE id = 1");  // takes the snapshot
      if (attempt == 1) both_have_snapshots.arrive_and_wait();
      txn.exec0("UPDATE counter SET n = n + 1 WHERE id = 1");  // the loser gets 40001
    });
  };
  Status a = OkStatus(), b = OkStatus();
  std::thread ta([&] { a = worker(); });
  std::thread tb([&] { b = worker(); });
  ta.join();
  tb.join();
  EXPECT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(CounterValue(1), 2);  // no lost update
}

TEST_F(PoolTest, StatementTimeoutFromConfigAppliesToEverySession) {
  config_.statement_timeout = 200ms;
  ConnectionPool pool(config_, 1);
  Status s = WithTransaction(pool, [](pqxx::work& txn) { txn.exec("SELECT pg_sleep(2)"); });
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("57014"), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().cls, ErrorClass::kTransient);
  Result<std::string> setting = WithTransaction(pool, [](pqxx::work& txn) {
    return txn.exec1("SHOW statement_timeout")[0].as<std::string>();
  });
  ASSERT_TRUE(setting.ok());
  EXPECT_EQ(*setting, "200ms");
}

}  // namespace
}  // namespace chansum::pg
