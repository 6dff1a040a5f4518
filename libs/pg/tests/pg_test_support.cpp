#include "pg_test_support.hpp"

#include <cstdlib>
#include <random>

namespace chansum::pg::testing {

void SchemaTest::SetUp() {
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    GTEST_FAIL() << "DATABASE_URL is not set: start the stack and run "
                    "eval \"$(deploy/local/stack env)\" before the integration tests";
  }
  std::random_device rd;
  schema_ = "test_" + std::to_string(rd()) + std::to_string(rd() % 1000);
  config_.url = url;
  config_.connect_timeout = std::chrono::seconds(5);
  config_.search_path = schema_;
  PgConfig admin = config_;
  admin.search_path.clear();
  auto conn = Connect(admin);
  ASSERT_TRUE(conn.ok()) << conn.error().ToString();
  pqxx::work txn(**conn);
  txn.exec0("CREATE SCHEMA " + txn.quote_name(schema_));
  txn.commit();
}

void SchemaTest::TearDown() {
  if (schema_.empty()) return;
  PgConfig admin = config_;
  admin.search_path.clear();
  auto conn = Connect(admin);
  ASSERT_TRUE(conn.ok()) << conn.error().ToString();
  pqxx::work txn(**conn);
  txn.exec0("DROP SCHEMA IF EXISTS " + txn.quote_name(schema_) + " CASCADE");
  txn.commit();
}

std::unique_ptr<pqxx::connection> SchemaTest::Open() const {
  auto conn = Connect(config_);
  if (!conn.ok()) throw std::runtime_error(conn.error().ToString());
  return std::move(*conn);
}

pqxx::result SchemaTest::Query(const std::string& sql) const {
  auto conn = Open();
  pqxx::work txn(*conn);
  pqxx::result r = txn.exec(sql);
  txn.commit();
  return r;
}

}  // namespace chansum::pg::testing

// libpqxx 6.4.5 leaks one libpq PGresult (~2 KiB) each time it finds a connection broken (seen
// with pg_terminate_backend; the whole allocation stack is inside libpq/libpqxx). Tell
// LeakSanitizer (CHANSUM_SANITIZE builds) about it rather than fail the tests that kill backends.
extern "C" const char* __lsan_default_suppressions() { return "leak:libpqxx-6.4.so\n"; }
