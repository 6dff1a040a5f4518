#include <libpq-fe.h>

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "chansum/pg/pg.hpp"

namespace chansum::pg {
namespace {

using namespace std::chrono_literals;

// Parses a connection string with libpq itself, so the tests check what libpq will see.
std::map<std::string, std::string> Parsed(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  EXPECT_NE(opts, nullptr) << conninfo << ": " << (err ? err : "");
  if (err) PQfreemem(err);
  std::map<std::string, std::string> out;
  if (!opts) return out;
  for (auto* o = opts; o->keyword; ++o) {
    if (o->val) out[o->keyword] = o->val;
  }
  PQconninfoFree(opts);
  return out;
}

TEST(PgConfigTest, ReadsEnvironmentWithDefaults) {
  ConfigReader env(std::map<std::string, std::string>{{"DATABASE_URL", "postgresql://u@h/db"}});
  const PgConfig c = PgConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(c.url, "postgresql://u@h/db");
  EXPECT_EQ(c.connect_timeout, 5s);
  EXPECT_EQ(c.statement_timeout, 0ms);
  EXPECT_EQ(c.search_path, "");
}

TEST(PgConfigTest, ReadsAllVariables) {
  ConfigReader env(std::map<std::string, std::string>{{"DATABASE_URL", "postgresql://u@h/db"},
                                                      {"PG_CONNECT_TIMEOUT", "2s"},
                                                      {"PG_STATEMENT_TIMEOUT", "1500ms"},
                                                      {"PG_SEARCH_PATH", "app,public"}});
  const PgConfig c = PgConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(c.connect_timeout, 2s);
  EXPECT_EQ(c.statement_timeout, 1500ms);
  EXPECT_EQ(c.search_path, "app,public");
}

TEST(PgConfigTest, ReportsMissingUrlAndBadDurationsTogether) {
  ConfigReader env(std::map<std::string, std::string>{{"PG_CONNECT_TIMEOUT", "soon"},
                                                      {"PG_STATEMENT_TIMEOUT", "-3"}});
  (void)PgConfig::FromEnv(env);
  try {
    env.Finish();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 3u) << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find("DATABASE_URL"), std::string::npos);
    EXPECT_NE(what.find("PG_CONNECT_TIMEOUT"), std::string::npos);
    EXPECT_NE(what.find("PG_STATEMENT_TIMEOUT"), std::string::npos);
  }
}

TEST(ConnectionStringTest, UriGetsTimeoutsAndSearchPath) {
  PgConfig c;
  c.url = "postgresql://u:p@127.0.0.1:5432/db";
  c.connect_timeout = 2500ms;
  c.statement_timeout = 3s;
  c.search_path = "my schema,public";
  const auto p = Parsed(ConnectionString(c));
  EXPECT_EQ(p.at("connect_timeout"), "3");  // rounded up
  EXPECT_EQ(p.at("options"), R"(-c statement_timeout=3000 -c search_path=my\ schema,public)");
  EXPECT_EQ(p.at("password"), "p");
  EXPECT_EQ(p.at("dbname"), "db");
}

TEST(ConnectionStringTest, UriWithQueryKeepsItsOwnSettings) {
  PgConfig c;
  c.url = "postgresql://u@h/db?connect_timeout=9&options=-c%20work_mem%3D8MB";
  c.search_path = "s";
  const auto p = Parsed(ConnectionString(c));
  EXPECT_EQ(p.at("connect_timeout"), "9");
  EXPECT_EQ(p.at("options"), "-c work_mem=8MB -c search_path=s");
}

TEST(ConnectionStringTest, KeyValueForm) {
  PgConfig c;
  c.url = "host=127.0.0.1 port=5432 dbname=db user=u password='a b\\'c'";
  c.statement_timeout = 250ms;
  const auto p = Parsed(ConnectionString(c));
  EXPECT_EQ(p.at("connect_timeout"), "5");
  EXPECT_EQ(p.at("options"), "-c statement_timeout=250");
  EXPECT_EQ(p.at("password"), "a b'c");
  EXPECT_EQ(p.at("host"), "127.0.0.1");
}

TEST(RedactConninfoTest, HidesPasswordsInEveryForm) {
  EXPECT_EQ(RedactConninfo("postgresql://u:sekret@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(RedactConninfo("postgresql://u@h/db?sslmode=disable&password=sekret&x=1"),
            "postgresql://u@h/db?sslmode=disable&password=***&x=***");
  EXPECT_EQ(RedactConninfo("host=h password=sekret user=u"), "host=h password=*** user=u");
  EXPECT_EQ(RedactConninfo("host=h password = 'se cr\\'et' user=u"),
            "host=h password = *** user=u");
  EXPECT_EQ(RedactConninfo("postgresql://u@h/db"), "postgresql://u@h/db");
}

TEST(ConnectTest, MalformedUrlIsPermanentAndHidesPassword) {
  PgConfig c;
  c.url = "postgresql://u:sekret@h/db?bogus_parameter=1";
  auto conn = Connect(c);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().cls, ErrorClass::kPermanent);
  EXPECT_EQ(conn.error().code, "pg_bad_url");
  EXPECT_EQ(conn.error().message.find("sekret"), std::string::npos) << conn.error().message;
}

TEST(ConnectTest, RefusedConnectionIsTransientAndHidesPassword) {
  PgConfig c;
  c.url = "postgresql://chansum:sekret-pw@127.0.0.1:1/db";  // nothing listens on port 1
  c.connect_timeout = 2s;
  auto conn = Connect(c);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().cls, ErrorClass::kTransient);
  EXPECT_EQ(conn.error().code, "pg_connect");
  EXPECT_EQ(conn.error().message.find("sekret-pw"), std::string::npos) << conn.error().message;
  EXPECT_NE(conn.error().message.find("127.0.0.1"), std::string::npos) << conn.error().message;
}

TEST(ClassifyTest, SqlStates) {
  for (const char* s : {"40001", "40P01", "08006", "08001", "53300", "55P03", "57014", "57P01"}) {
    EXPECT_EQ(ClassifySqlState(s), ErrorClass::kTransient) << s;
  }
  for (const char* s : {"42601", "23505", "22P02", "42P01", "", "XX000"}) {
    EXPECT_EQ(ClassifySqlState(s), ErrorClass::kPermanent) << s;
  }
}

TEST(ClassifyTest, ExceptionsBecomeErrors) {
  const Error lost = ErrorFromException(pqxx::broken_connection("gone"), "ctx");
  EXPECT_EQ(lost.cls, ErrorClass::kTransient);
  EXPECT_EQ(lost.code, "pg_connection_lost");
  EXPECT_EQ(lost.message.rfind("ctx: ", 0), 0u) << lost.message;

  const Error doubt = ErrorFromException(pqxx::in_doubt_error("?"));
  EXPECT_EQ(doubt.cls, ErrorClass::kTransient);
  EXPECT_EQ(doubt.code, "pg_commit_unknown");

  const Error serial = ErrorFromException(pqxx::serialization_failure("x"));
  EXPECT_EQ(serial.cls, ErrorClass::kTransient);
  EXPECT_EQ(serial.code, "pg_sql");
  EXPECT_NE(serial.message.find("40001"), std::string::npos);

  const Error deadlock = ErrorFromException(pqxx::deadlock_detected("x"));
  EXPECT_EQ(deadlock.cls, ErrorClass::kTransient);
  EXPECT_NE(deadlock.message.find("40P01"), std::string::npos);
  EXPECT_EQ(SqlState(pqxx::unique_violation("dup", "q", "23505")), "23505");

  const Error syntax = ErrorFromException(pqxx::syntax_error("bad", "q", "42601"));
  EXPECT_EQ(syntax.cls, ErrorClass::kPermanent);
  EXPECT_NE(syntax.message.find("42601"), std::string::npos);

  const Error other = ErrorFromException(std::runtime_error("boom"));
  EXPECT_EQ(other.cls, ErrorClass::kPermanent);
  EXPECT_EQ(other.code, "pg_error");
}

}  // namespace
}  // namespace chansum::pg
