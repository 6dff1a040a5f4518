#include "chansum/pg/migrate.hpp"

#include <string>

#include <gtest/gtest.h>

namespace chansum::pg {
namespace {

TEST(ValidateMigrationsTest, AcceptsIncreasingVersionsWithGaps) {
  EXPECT_TRUE(ValidateMigrations({}).ok());
  EXPECT_TRUE(
      ValidateMigrations({{1, "a", "SELECT 1"}, {2, "b", "SELECT 2"}, {10, "c", "SELECT 3"}}).ok());
}

TEST(ValidateMigrationsTest, RejectsDuplicateVersions) {
  auto s = ValidateMigrations({{1, "a", "SELECT 1"}, {2, "b", "SELECT 2"}, {2, "c", "SELECT 3"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "pg_migration_invalid");
  EXPECT_EQ(s.error().cls, ErrorClass::kPermanent);
  EXPECT_NE(s.error().message.find("0002_c"), std::string::npos) << s.error().message;
}

TEST(ValidateMigrationsTest, RejectsDecreasingNonPositiveAndEmpty) {
  auto s = ValidateMigrations({{0, "zero", "SELECT 1"},
                               {3, "three", "SELECT 1"},
                               {2, "two", "SELECT 1"},
                               {4, "", "SELECT 1"},
                               {5, "blank", " \n\t"}});
  ASSERT_FALSE(s.ok());
  const std::string& m = s.error().message;
  EXPECT_NE(m.find("0000_zero): version must be positive"), std::string::npos) << m;
  EXPECT_NE(m.find("0002_two"), std::string::npos) << m;
  EXPECT_NE(m.find("name is empty"), std::string::npos) << m;
  EXPECT_NE(m.find("0005_blank): SQL is empty"), std::string::npos) << m;
  EXPECT_EQ(m.find("0003_three"), std::string::npos) << m;
}

TEST(MigrationChecksumTest, IsSha256OfTheSql) {
  EXPECT_EQ(MigrationChecksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(MigrationChecksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(MigrationChecksum("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(MigrationChecksum(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Lengths around the padding boundaries (55, 56, 63, 64, 65 bytes) must differ from each other.
  std::string prev;
  for (std::size_t n : {55u, 56u, 63u, 64u, 65u}) {
    const std::string c = MigrationChecksum(std::string(n, 'x'));
    EXPECT_EQ(c.size(), 64u);
    EXPECT_NE(c, prev);
    prev = c;
  }
  EXPECT_EQ(MigrationChecksum(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(MigrationChecksumTest, DetectsAnyEditButIgnoresCrlf) {
  const std::string sql = "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n";
  EXPECT_EQ(MigrationChecksum(sql),
            MigrationChecksum("CREATE TABLE t (id int);\r\nINSERT INTO t VALUES (1);\r\n"));
  EXPECT_NE(MigrationChecksum(sql), MigrationChecksum("CREATE TABLE t (id int);\nINSERT INTO t "
                                                      "VALUES (2);\n"));
  EXPECT_NE(MigrationChecksum(sql), MigrationChecksum(sql + " "));
  EXPECT_NE(MigrationChecksum("a\rb"), MigrationChecksum("ab"));  // a lone CR is content
}

}  // namespace
}  // namespace chansum::pg
