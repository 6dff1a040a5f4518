// Durability of the local stack's Mongo-wire server (DESIGN §4: every store that acknowledges a
// write has made it durable). A FerretDB of the test's own — the binary deploy/local/setup built,
// on a free port, with a fresh PostgreSQL database on the running stack's PostgreSQL
// (DATABASE_URL) — acknowledges 300 upserts made through the project's DocStore (libmongoc,
// default write concern, as the services write), is killed with SIGKILL, started again, and must
// return all 300 documents with their contents.
//
// MONGO_KILL9_SERVER replaces the server with any shell command ({port} and {dir}, a scratch
// directory, are substituted), e.g. to run the same check against another Mongo-wire server:
// mongo-java-server 1.46 with its H2 backend, the server this one replaced, kept 0 of 300.
//
// MongoLeftoverTest checks the stack's own FerretDB: a write to a collection whose creation was
// interrupted earlier succeeds (deploy/local/ferretdb/leftovers.sql).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/docstore/docstore.hpp"
#include "chansum/testing/support.hpp"

namespace chansum {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kDocuments = 300;

std::string OrEmpty(const char* v) { return v == nullptr ? std::string() : std::string(v); }

// FERRETDB_VERSION from deploy/local/versions.env.
std::string FerretVersion() {
  std::ifstream in(fs::path(CHANSUM_SOURCE_DIR) / "deploy/local/versions.env");
  const std::regex line_re(R"(^FERRETDB_VERSION=([0-9.]+))");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, line_re)) return m[1];
  }
  return {};
}

// Where deploy/local/setup puts the binary: $CHANSUM_TOOLS_DIR (default ~/.cache/chansum).
fs::path FerretBinary() {
  std::string tools = OrEmpty(std::getenv("CHANSUM_TOOLS_DIR"));
  if (tools.empty()) tools = OrEmpty(std::getenv("HOME")) + "/.cache/chansum";
  return fs::path(tools) / ("ferretdb-" + FerretVersion()) / "ferretdb";
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

int Psql(const std::string& url, const std::string& sql, std::string* out) {
  return testing::RunCommand({"/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql},
                             out);
}

class MongoKill9Test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("chansum-mongo-kill9");
    port_ = testing::FreePort();
    custom_ = OrEmpty(std::getenv("MONGO_KILL9_SERVER"));
    if (custom_.empty()) {
      const std::string pg_url = testing::RequireEnv("DATABASE_URL");
      ASSERT_FALSE(pg_url.empty()) << "start the stack: eval \"$(deploy/local/stack env)\"";
      binary_ = FerretBinary();
      ASSERT_TRUE(fs::exists(binary_)) << binary_ << " is missing: run deploy/local/setup";
      pg_db_ = "ferretdb_kill9_" + testing::RandomSuffix();
      std::string out;
      ASSERT_EQ(Psql(pg_url, "create database " + pg_db_, &out), 0) << out;
      admin_url_ = pg_url;
      ferret_pg_url_ = testing::UrlWithDatabase(pg_url, pg_db_);
    }
  }

  void TearDown() override {
    server_.reset();
    if (!pg_db_.empty()) {
      std::string out;
      EXPECT_EQ(Psql(admin_url_, "drop database if exists " + pg_db_ + " with (force)", &out), 0)
          << out;
    }
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);
  }

  // Starts the server (again) and waits until it answers a ping.
  void StartServer() {
    std::vector<std::string> argv;
    if (custom_.empty()) {
      argv = {binary_.string(), "-listen-addr", "127.0.0.1:" + std::to_string(port_),
              "-postgresql-url", ferret_pg_url_};
    } else {
      const std::string cmd =
          Replace(Replace(custom_, "{port}", std::to_string(port_)), "{dir}", dir_.string());
      argv = {"/bin/sh", "-c", "exec " + cmd};
    }
    server_ = std::make_unique<testing::ChildProcess>(argv, std::map<std::string, std::string>{},
                                                      dir_ / "server.log");
    store_.reset();
    docstore::DocstoreConfig config;
    config.uri = "mongodb://127.0.0.1:" + std::to_string(port_) + "/kill9";
    config.database = "kill9";
    config.timeout = 1000ms;
    auto store = docstore::DocStore::Open(config);
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    store_ = std::move(*store);
    const bool up =
        testing::WaitFor([&] { return server_->Running() && store_->Ping().ok(); }, 60s, 300ms);
    ASSERT_TRUE(up) << "the server did not answer ping within 60 s; log:\n" << server_->LogTail();
  }

  fs::path dir_;
  int port_ = 0;
  std::string custom_;
  fs::path binary_;
  std::string pg_db_, admin_url_, ferret_pg_url_;
  std::unique_ptr<testing::ChildProcess> server_;
  std::unique_ptr<docstore::DocStore> store_;
};

json Document(int i) {
  return {{"n", i},
          {"video_id", "vid-" + std::to_string(i)},
          {"text", "transcript line " + std::to_string(i) + " " + std::string(200, 'x')}};
}

TEST_F(MongoKill9Test, EveryAcknowledgedUpsertSurvivesSigkill) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // Updates of existing documents as well as inserts: 300 ids, the first 50 written twice.
  for (int i = 0; i < 50; ++i) {
    auto s = store_->Upsert("transcripts", "vid-" + std::to_string(i), {{"n", -1}});
    ASSERT_TRUE(s.ok()) << s.error().ToString();
  }
  for (int i = 0; i < kDocuments; ++i) {
    auto s = store_->Upsert("transcripts", "vid-" + std::to_string(i), Document(i));
    ASSERT_TRUE(s.ok()) << "upsert " << i << " not acknowledged: " << s.error().ToString();
  }
  auto before = store_->Count("transcripts");
  ASSERT_TRUE(before.ok()) << before.error().ToString();
  ASSERT_EQ(*before, kDocuments);

  // SIGKILL right after the last acknowledgement: no chance to flush anything.
  const pid_t pid = server_->pid();
  server_->Kill();
  ASSERT_FALSE(server_->Running()) << "pid " << pid << " survived SIGKILL";

  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto after = store_->Count("transcripts");
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  EXPECT_EQ(*after, kDocuments) << "acknowledged upserts lost across kill -9";
  auto docs = store_->Find("transcripts", json::object());
  ASSERT_TRUE(docs.ok()) << docs.error().ToString();
  std::vector<bool> seen(kDocuments, false);
  for (const auto& doc : *docs) {
    const int n = doc.value("n", -2);
    ASSERT_GE(n, 0) << "a document kept its first version: " << doc.dump();
    ASSERT_LT(n, kDocuments);
    json expected = Document(n);
    expected["_id"] = "vid-" + std::to_string(n);
    EXPECT_EQ(doc, expected);
    seen[static_cast<std::size_t>(n)] = true;
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), kDocuments);
}

// The stack's FerretDB (MONGO_URI; its PostgreSQL database `ferretdb` next to DATABASE_URL's)
// over a table left behind by an interrupted collection creation (PostgreSQL stopped between
// FerretDB's CREATE TABLE and the INSERT of the collection's metadata): without the stack's
// clean-up trigger (deploy/local/ferretdb/leftovers.sql) every write to that collection fails
// with "relation ... already exists"; with it the first write succeeds.
TEST(MongoLeftoverTest, WriteSucceedsOverATableAnInterruptedCreationLeftBehind) {
  const std::string mongo_uri = testing::RequireEnv("MONGO_URI");
  const std::string pg_url = testing::RequireEnv("DATABASE_URL");
  ASSERT_FALSE(mongo_uri.empty() || pg_url.empty()) << "eval \"$(deploy/local/stack env)\"";
  docstore::DocstoreConfig config;
  config.database = "chansum_test_leftover";
  config.uri = testing::UrlWithDatabase(mongo_uri, config.database);
  auto opened = docstore::DocStore::Open(config);
  ASSERT_TRUE(opened.ok()) << opened.error().ToString();
  auto& store = **opened;
  // The Mongo database (a PostgreSQL schema with FerretDB's metadata table) exists.
  ASSERT_TRUE(store.Upsert("anchor", "a", {{"n", 1}}).ok());

  // FerretDB's table name for a collection: the lower-case name, '_', FNV-1a 32 of the name.
  std::string collection = "leftover";
  for (char c : testing::RandomSuffix(8)) collection += static_cast<char>('a' + (c % 26));
  std::uint32_t hash = 2166136261u;
  for (unsigned char c : collection) hash = (hash ^ c) * 16777619u;
  char suffix[10];
  std::snprintf(suffix, sizeof(suffix), "_%08x", hash);
  const std::string table = collection + suffix;
  std::string out;
  ASSERT_EQ(Psql(testing::UrlWithDatabase(pg_url, "ferretdb"),
                 "create table \"" + config.database + "\".\"" + table + "\" (_jsonb jsonb)", &out),
            0)
      << out;

  auto s = store.Upsert(collection, "vid-1", {{"summary", "after the leftover"}});
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  auto got = store.Get(collection, "vid-1");
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_TRUE(got->has_value());
  EXPECT_TRUE(store.Drop(collection).ok());
  EXPECT_TRUE(store.Drop("anchor").ok());
}

}  // namespace
}  // namespace chansum
