#pragma once
// A private PostgreSQL schema per test on the stack's database (DATABASE_URL), with the pipeline's
// tables migrated into it and dropped afterwards. Outbox rows written here are invisible to the
// relays of services sharing the database, so test events never reach (or block) them.
// Target chansum::testsupport_pg (tests/support/CMakeLists.txt).
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "chansum/common/ids.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/store/store.hpp"

namespace chansum::testing {

inline std::string RandomName(std::size_t n = 8) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += kChars[rd() % (sizeof(kChars) - 1)];
  return s;
}

class SchemaFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("DATABASE_URL");
    if (url == nullptr || *url == '\0') {
      GTEST_FAIL() << "DATABASE_URL is not set: start the stack and run "
                      "eval \"$(deploy/local/stack env)\" before the integration tests";
    }
    schema_ = "test_events_" + RandomName();
    pg_.url = url;
    pg_.connect_timeout = std::chrono::seconds(5);
    {
      auto admin = pg::Connect(pg_);
      ASSERT_TRUE(admin.ok()) << admin.error().ToString();
      pqxx::work txn(**admin);
      txn.exec0("CREATE SCHEMA " + txn.quote_name(schema_));
      txn.commit();
    }
    pg_.search_path = schema_;
    conn_ = Open();
    auto applied = store::Migrate(*conn_);
    ASSERT_TRUE(applied.ok()) << applied.error().ToString();
  }

  void TearDown() override {
    conn_.reset();
    if (schema_.empty() || pg_.url.empty()) return;
    pg::PgConfig admin_config = pg_;
    admin_config.search_path.clear();
    auto admin = pg::Connect(admin_config);
    ASSERT_TRUE(admin.ok()) << admin.error().ToString();
    pqxx::work txn(**admin);
    txn.exec0("DROP SCHEMA IF EXISTS " + txn.quote_name(schema_) + " CASCADE");
    txn.commit();
  }

  std::unique_ptr<pqxx::connection> Open() const {
    auto conn = pg::Connect(pg_);
    if (!conn.ok()) throw std::runtime_error(conn.error().ToString());
    return std::move(*conn);
  }

  pqxx::result Query(const std::string& sql) const {
    auto conn = Open();
    pqxx::work txn(*conn);
    auto r = txn.exec(sql);
    txn.commit();
    return r;
  }

  // Inserts a queued job for "@demo" (the demo feed's URL, trace id "t") and returns its id.
  static std::string InsertDemoJob(pqxx::work& txn) {
    store::NewJob job;
    job.id = NewUuid();
    job.channel = "@demo";
    job.channel_url = "http://127.0.0.1:1/demo/feed.xml";
    job.trace_id = "t";
    store::InsertJob(txn, job);
    return job.id;
  }

  // From here on every commit that wrote an outbox row fails AT COMMIT (a deferred constraint
  // trigger), after all of its statements succeeded, until the test deletes the row of
  // `fail_commits`: the worst moment for an ack to slip out before its commit.
  static void FailCommitsThatWriteTheOutbox(pqxx::work& txn) {
    txn.exec(
        "CREATE TABLE fail_commits (on_ boolean);"
        "INSERT INTO fail_commits VALUES (true);"
        "CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "  IF EXISTS (SELECT 1 FROM fail_commits) THEN "
        "    RAISE EXCEPTION 'commit refused by the test'; END IF; RETURN NULL; END $$;"
        "CREATE CONSTRAINT TRIGGER outbox_fail_commit AFTER INSERT ON outbox "
        "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit();");
  }

  pg::PgConfig pg_;
  std::string schema_;
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace chansum::testing
