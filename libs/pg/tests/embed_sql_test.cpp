// chansum_embed_sql() (libs/pg/CMakeLists.txt) embedded tests/sql/*.sql into
// chansum::pg::testing::EmbeddedTestMigrations(); the bytes must equal the files' exactly.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "chansum/pg/migrate.hpp"

namespace chansum::pg::testing {
std::vector<Migration> EmbeddedTestMigrations();
}

namespace chansum::pg {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(EmbedSqlTest, EmbedsEveryFileInVersionOrderByteForByte) {
  const auto migrations = testing::EmbeddedTestMigrations();
  ASSERT_EQ(migrations.size(), 3u);
  EXPECT_EQ(migrations[0].version, 1);
  EXPECT_EQ(migrations[0].name, "first");
  EXPECT_EQ(migrations[1].version, 2);
  EXPECT_EQ(migrations[1].name, "tricky-bytes");
  EXPECT_EQ(migrations[2].version, 10);  // natural order: 0010 after 0002, leading zeros dropped
  EXPECT_EQ(migrations[2].name, "tenth");
  for (const auto& m : migrations) {
    char file[256];
    std::snprintf(file, sizeof file, "%s/%04d_%s.sql", CHANSUM_PG_TEST_SQL_DIR, m.version,
                  m.name.c_str());
    EXPECT_EQ(m.sql, ReadFile(file)) << file;
  }
  EXPECT_TRUE(ValidateMigrations(migrations).ok());
}

TEST(EmbedSqlTest, KeepsRawStringTerminatorsCrlfAndUtf8) {
  const std::string sql = testing::EmbeddedTestMigrations()[1].sql;
  EXPECT_NE(sql.find(")\""), std::string::npos);
  EXPECT_NE(sql.find(")sql\""), std::string::npos);
  EXPECT_NE(sql.find("('\\')"), std::string::npos);
  EXPECT_NE(sql.find("\r\n"), std::string::npos);
  EXPECT_NE(sql.find("h\xc3\xa9llo \xe2\x9c\x93"), std::string::npos);
  EXPECT_EQ(testing::EmbeddedTestMigrations()[2].sql.back(), ')');  // no newline added
}

}  // namespace
}  // namespace chansum::pg
