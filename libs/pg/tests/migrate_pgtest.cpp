// ApplyMigrations against the real PostgreSQL at DATABASE_URL, each test in a fresh schema.
#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "chansum/pg/migrate.hpp"
#include "chansum/pg/pg.hpp"
#include "pg_test_support.hpp"

namespace chansum::pg::testing {
std::vector<Migration> EmbeddedTestMigrations();
}

namespace chansum::pg {
namespace {

class MigrateTest : public testing::SchemaTest {
 protected:
  std::string Lock() const { return "chansum.test." + schema_; }

  // Non-idempotent on purpose: running any of them twice fails (duplicate table / column) or
  // leaves an extra row in `log`.
  static std::vector<Migration> Base() {
    return {
        {1, "create_log",
         "CREATE TABLE log (version int NOT NULL, at timestamptz DEFAULT now());\n"
         "INSERT INTO log (version) VALUES (1);"},
        {2, "create_items",
         "CREATE TABLE items (id int PRIMARY KEY);"
         "INSERT INTO log (version) VALUES (2);"},
        {3, "add_title",
         "SELECT pg_sleep(0.2);"  // widens the window for racing migrators
         "ALTER TABLE items ADD COLUMN title text;"
         "INSERT INTO log (version) VALUES (3);"},
    };
  }

  std::vector<int> RecordedVersions() {
    std::vector<int> out;
    for (const auto& row : Query("SELECT version FROM schema_migrations ORDER BY version")) {
      out.push_back(row[0].as<int>());
    }
    return out;
  }
  bool LockIsFree() {
    auto conn = Open();
    pqxx::nontransaction ntx(*conn);
    const bool got =
        ntx.exec_params1("SELECT pg_try_advisory_lock(hashtext($1))", Lock())[0].as<bool>();
    if (got) ntx.exec_params("SELECT pg_advisory_unlock(hashtext($1))", Lock());
    return got;
  }
};

TEST_F(MigrateTest, AppliesInOrderThenNothingTheSecondTime) {
  auto conn = Open();
  Result<int> first = ApplyMigrations(*conn, Base(), Lock());
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(*first, 3);
  EXPECT_EQ(RecordedVersions(), (std::vector<int>{1, 2, 3}));
  auto rows = Query("SELECT version, name, checksum FROM schema_migrations ORDER BY version");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i][1].as<std::string>(), Base()[i].name);
    EXPECT_EQ(rows[i][2].as<std::string>(), MigrationChecksum(Base()[i].sql));
  }
  EXPECT_EQ(Query("SELECT count(*) FROM information_schema.columns WHERE table_schema = '" +
                  schema_ + "' AND table_name = 'items' AND column_name = 'title'")[0][0]
                .as<int>(),
            1);

  Result<int> second = ApplyMigrations(*conn, Base(), Lock());
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(*second, 0);
  EXPECT_EQ(Query("SELECT count(*) FROM log")[0][0].as<int>(), 3);
  EXPECT_TRUE(LockIsFree());
}

TEST_F(MigrateTest, LaterRunAppliesOnlyNewMigrations) {
  auto conn = Open();
  auto two = Base();
  two.pop_back();
  ASSERT_EQ(*ApplyMigrations(*conn, two, Lock()), 2);
  auto more = Base();
  more.push_back({7, "seven", "INSERT INTO log (version) VALUES (7);"});
  Result<int> r = ApplyMigrations(*conn, more, Lock());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, 2);
  EXPECT_EQ(RecordedVersions(), (std::vector<int>{1, 2, 3, 7}));
  EXPECT_EQ(Query("SELECT string_agg(version::text, ',' ORDER BY version) FROM log")[0][0]
                .as<std::string>(),
            "1,2,3,7");
}

TEST_F(MigrateTest, TwoConcurrentMigratorsApplyEachMigrationExactlyOnce) {
  constexpr int kMigrators = 2;
  std::latch start(kMigrators);
  std::vector<Result<int>> results(kMigrators, Result<int>(-1));
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] {
      auto conn = Open();  // each migrator has its own session
      start.arrive_and_wait();
      results[i] = ApplyMigrations(*conn, Base(), Lock());
    });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    total += *r;
  }
  EXPECT_EQ(total, 3);  // one did all the work, the other found everything applied
  EXPECT_TRUE((*results[0] == 3 && *results[1] == 0) || (*results[0] == 0 && *results[1] == 3));
  EXPECT_EQ(RecordedVersions(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(Query("SELECT string_agg(version::text, ',' ORDER BY version) FROM log")[0][0]
                .as<std::string>(),
            "1,2,3");
  EXPECT_TRUE(LockIsFree());
}

TEST_F(MigrateTest, ChecksumDriftIsAPermanentErrorNamingTheVersion) {
  auto conn = Open();
  ASSERT_TRUE(ApplyMigrations(*conn, Base(), Lock()).ok());
  auto edited = Base();
  edited[1].sql = "CREATE TABLE items (id bigint PRIMARY KEY);";
  edited.push_back({4, "four", "INSERT INTO log (version) VALUES (4);"});
  Result<int> r = ApplyMigrations(*conn, edited, Lock());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
  EXPECT_EQ(r.error().code, "pg_migration_drift");
  EXPECT_NE(r.error().message.find("version 2 (0002_create_items)"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(RecordedVersions(), (std::vector<int>{1, 2, 3}));  // nothing applied after drift
  EXPECT_TRUE(LockIsFree());
  // CRLF line ends alone are not drift.
  auto crlf = Base();
  crlf[0].sql =
      "CREATE TABLE log (version int NOT NULL, at timestamptz DEFAULT now());\r\n"
      "INSERT INTO log (version) VALUES (1);";
  Result<int> same = ApplyMigrations(*conn, crlf, Lock());
  ASSERT_TRUE(same.ok()) << same.error().ToString();
  EXPECT_EQ(*same, 0);
}

TEST_F(MigrateTest, FailedMigrationLeavesNothingBehindAndReleasesTheLock) {
  auto conn = Open();
  std::vector<Migration> ms = {
      Base()[0],
      {2, "broken", "CREATE TABLE half (id int); INSERT INTO log (version) VALUES (2); SELEC 1;"},
  };
  Result<int> r = ApplyMigrations(*conn, ms, Lock());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "pg_migration_failed");
  EXPECT_EQ(r.error().cls, ErrorClass::kPermanent);
  EXPECT_NE(r.error().message.find("0002_broken"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("42601"), std::string::npos) << r.error().message;
  EXPECT_EQ(RecordedVersions(), (std::vector<int>{1}));  // the first one stays applied
  EXPECT_EQ(Query("SELECT to_regclass('" + schema_ + ".half') IS NULL")[0][0].as<bool>(), true);
  EXPECT_EQ(Query("SELECT count(*) FROM log")[0][0].as<int>(), 1);
  EXPECT_TRUE(LockIsFree());
  // The same connection can still be used, and a fixed migration applies.
  ms[1].sql = "CREATE TABLE half (id int);";
  Result<int> fixed = ApplyMigrations(*conn, ms, Lock());
  ASSERT_TRUE(fixed.ok()) << fixed.error().ToString();
  EXPECT_EQ(*fixed, 1);
}

TEST_F(MigrateTest, InvalidListIsRejectedBeforeTouchingTheDatabase) {
  auto conn = Open();
  Result<int> r = ApplyMigrations(*conn, {{2, "b", "SELECT 1"}, {1, "a", "SELECT 1"}}, Lock());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "pg_migration_invalid");
  EXPECT_TRUE(
      Query("SELECT to_regclass('" + schema_ + ".schema_migrations') IS NULL")[0][0].as<bool>());
}

TEST_F(MigrateTest, WaitsForTheLockHeldByAnotherSession) {
  auto holder = Open();
  pqxx::nontransaction hold(*holder);
  hold.exec_params("SELECT pg_advisory_lock(hashtext($1))", Lock());
  std::atomic<bool> done{false};
  Result<int> r = -1;
  std::thread migrator([&] {
    auto conn = Open();
    r = ApplyMigrations(*conn, Base(), Lock());
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(done.load());  // blocked on the advisory lock
  EXPECT_TRUE(
      Query("SELECT to_regclass('" + schema_ + ".schema_migrations') IS NULL")[0][0].as<bool>());
  hold.exec_params("SELECT pg_advisory_unlock(hashtext($1))", Lock());
  migrator.join();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, 3);
}

TEST_F(MigrateTest, EmbeddedSqlAppliesAndKeepsItsBytes) {
  auto conn = Open();
  Result<int> r = ApplyMigrations(*conn, testing::EmbeddedTestMigrations(), Lock());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, 3);
  std::vector<std::string> values;
  for (const auto& row : Query("SELECT v FROM embed_check ORDER BY id")) {
    values.push_back(row[0].as<std::string>());
  }
  EXPECT_EQ(values, (std::vector<std::string>{")\"", ")sql\"", "R\"(", "\\", "\\n", "héllo ✓ 日本",
                                              "no newline at end"}));
}

}  // namespace
}  // namespace chansum::pg
