#include "chansum/docstore/config.hpp"

#include <gtest/gtest.h>

#include "chansum/docstore/docstore.hpp"

namespace chansum::docstore {
namespace {

TEST(DocstoreConfigTest, ReadsUriDatabaseAndTimeout) {
  ConfigReader env(std::map<std::string, std::string>{
      {"MONGO_URI", "mongodb://app:secret@127.0.0.1:27027/media?appname=x"},
      {"MONGO_TIMEOUT", "750ms"}});
  const auto c = DocstoreConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(c.database, "media");
  EXPECT_EQ(c.timeout, std::chrono::milliseconds(750));
  EXPECT_EQ(c.Redacted().find("secret"), std::string::npos);
}

TEST(DocstoreConfigTest, DefaultsAndMissingUri) {
  ConfigReader ok(std::map<std::string, std::string>{{"MONGO_URI", "mongodb://h:1"}});
  const auto c = DocstoreConfig::FromEnv(ok);
  EXPECT_EQ(c.database, "chansum");
  EXPECT_EQ(c.timeout, std::chrono::seconds(5));

  ConfigReader missing(std::map<std::string, std::string>{{"MONGO_TIMEOUT", "never"}});
  (void)DocstoreConfig::FromEnv(missing);
  EXPECT_EQ(missing.problems().size(), 2u);
  EXPECT_THROW(missing.Finish(), ConfigError);
}

TEST(DocstoreConfigTest, DatabaseFromUri) {
  EXPECT_EQ(DatabaseFromUri("mongodb://a:1,b:2/db1", "x"), "db1");
  EXPECT_EQ(DatabaseFromUri("mongodb://a:1/?replicaSet=r", "x"), "x");
  EXPECT_EQ(DatabaseFromUri("mongodb://a:1/", "x"), "x");
  EXPECT_EQ(DatabaseFromUri("mongodb://u:p@a:1/db2?w=1", "x"), "db2");
}

TEST(DocstoreOpenTest, MalformedUriIsPermanent) {
  DocstoreConfig c;
  c.uri = "http://not-mongo";
  auto store = DocStore::Open(c);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, "config");
  EXPECT_FALSE(store.error().transient());
}

TEST(BackendErrorTest, RacesAndOutagesOfFerretDbsPostgresqlAreTransient) {
  // Seen in a clean-clone run: two first writes to a new database raced in FerretDB.
  EXPECT_TRUE(IsTransientBackendError(
      "[registry.go:338 metadata.(*Registry).databaseGetOrCreate] ERROR: relation "
      "\"_ferretdb_database_metadata\" already exists (SQLSTATE 42P07)"));
  EXPECT_TRUE(IsTransientBackendError("FATAL: terminating connection (SQLSTATE 57P01)"));
  EXPECT_TRUE(IsTransientBackendError("could not serialize access (SQLSTATE 40001)"));
  EXPECT_TRUE(IsTransientBackendError("connection refused (SQLSTATE 08006)"));
  EXPECT_FALSE(IsTransientBackendError("value too long (SQLSTATE 22001)"));
  EXPECT_FALSE(IsTransientBackendError("document is too large"));
  EXPECT_FALSE(IsTransientBackendError("SQLSTATE 4"));
}

}  // namespace
}  // namespace chansum::docstore
