#pragma once
// Shared helpers of the pg integration tests: each test gets its own fresh schema on the real
// PostgreSQL at DATABASE_URL, used through PgConfig::search_path, and dropped afterwards.
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "chansum/pg/pg.hpp"

namespace chansum::pg::testing {

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A connection of its own (search_path = the test schema), for checks from the outside.
  std::unique_ptr<pqxx::connection> Open() const;
  // Runs one statement on a fresh connection and returns its result.
  pqxx::result Query(const std::string& sql) const;

  PgConfig config_;     // DATABASE_URL with search_path = schema_
  std::string schema_;  // test_<random>
};

}  // namespace chansum::pg::testing
