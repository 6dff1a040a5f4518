// Integration tests against the Mongo-wire server of the local stack: MONGO_URI from
// `eval "$(deploy/local/stack env)"`. Every test uses its own collections and drops them.
#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "chansum/common/ids.hpp"
#include "chansum/docstore/docstore.hpp"

namespace chansum::docstore {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class DocStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* uri = std::getenv("MONGO_URI");
    if (uri == nullptr || *uri == '\0') {
      GTEST_FAIL() << "MONGO_URI is not set: start the stack and run "
                      "eval \"$(deploy/local/stack env)\"";
    }
    DocstoreConfig config;
    config.uri = uri;
    config.database = DatabaseFromUri(uri, "chansum");
    auto store = DocStore::Open(config);
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    store_ = std::move(*store);
  }
  void TearDown() override {
    for (const auto& c : collections_) {
      auto s = store_->Drop(c);
      EXPECT_TRUE(s.ok()) << s.error().ToString();
    }
  }
  std::string NewCollection() {
    collections_.push_back("test_" + NewUuid().substr(0, 8));
    return collections_.back();
  }

  std::unique_ptr<DocStore> store_;
  std::vector<std::string> collections_;
};

TEST_F(DocStoreTest, PingSucceeds) {
  auto s = store_->Ping();
  EXPECT_TRUE(s.ok()) << s.error().ToString();
}

TEST_F(DocStoreTest, UpsertThenGetReturnsTheDocument) {
  const auto coll = NewCollection();
  const json doc = {{"source", "asr"},
                    {"language", "en"},
                    {"segments", json::array({{{"start", 0.0}, {"end", 1.25}, {"text", "hello"}}})},
                    {"words", 2}};
  ASSERT_TRUE(store_->Upsert(coll, "vid-1", doc).ok());
  auto got = store_->Get(coll, "vid-1");
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  ASSERT_TRUE(got->has_value());
  json expected = doc;
  expected["_id"] = "vid-1";
  EXPECT_EQ(**got, expected);
}

TEST_F(DocStoreTest, SecondUpsertReplacesTheFirst) {
  const auto coll = NewCollection();
  ASSERT_TRUE(store_->Upsert(coll, "vid-2", {{"summary", "first"}, {"stale_field", 1}}).ok());
  ASSERT_TRUE(store_->Upsert(coll, "vid-2", {{"summary", "second"}}).ok());
  auto n = store_->Count(coll);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 1);
  auto got = store_->Get(coll, "vid-2");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, (json{{"_id", "vid-2"}, {"summary", "second"}}));  // replaced, not merged
}

TEST_F(DocStoreTest, GetOfMissingIdIsNullopt) {
  const auto coll = NewCollection();
  ASSERT_TRUE(store_->Upsert(coll, "present", {{"x", 1}}).ok());
  auto got = store_->Get(coll, "absent");
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_FALSE(got->has_value());
}

TEST_F(DocStoreTest, DeleteReportsWhetherSomethingWasDeleted) {
  const auto coll = NewCollection();
  ASSERT_TRUE(store_->Upsert(coll, "vid-3", {{"x", 1}}).ok());
  auto first = store_->Delete(coll, "vid-3");
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_TRUE(*first);
  auto second = store_->Delete(coll, "vid-3");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  auto got = store_->Get(coll, "vid-3");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

TEST_F(DocStoreTest, FindAndCountWithFilter) {
  const auto coll = NewCollection();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store_
                    ->Upsert(coll, "v" + std::to_string(i),
                             {{"job_id", i % 2 == 0 ? "job-even" : "job-odd"}, {"n", i}})
                    .ok());
  }
  auto even = store_->Find(coll, {{"job_id", "job-even"}});
  ASSERT_TRUE(even.ok()) << even.error().ToString();
  ASSERT_EQ(even->size(), 5u);
  std::set<int> ns;
  for (const auto& d : *even) {
    EXPECT_EQ(d["job_id"], "job-even");
    ns.insert(d["n"].get<int>());
  }
  EXPECT_EQ(ns, (std::set<int>{0, 2, 4, 6, 8}));

  auto limited = store_->Find(coll, json::object(), 3);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 3u);

  auto big = store_->Find(coll, {{"n", {{"$gte", 7}}}});
  ASSERT_TRUE(big.ok()) << big.error().ToString();
  EXPECT_EQ(big->size(), 3u);

  auto n_odd = store_->Count(coll, {{"job_id", "job-odd"}});
  ASSERT_TRUE(n_odd.ok()) << n_odd.error().ToString();
  EXPECT_EQ(*n_odd, 5);
  auto n_none = store_->Count(coll, {{"job_id", "nope"}});
  ASSERT_TRUE(n_none.ok()) << n_none.error().ToString();
  EXPECT_EQ(*n_none, 0);
}

TEST_F(DocStoreTest, UniqueIndexRejectsConflicts) {
  const auto coll = NewCollection();
  auto idx = store_->EnsureIndex(coll, json{{"url", 1}}, "url_unique", true);
  ASSERT_TRUE(idx.ok()) << idx.error().ToString();
  auto again = store_->EnsureIndex(coll, json{{"url", 1}}, "url_unique", true);
  EXPECT_TRUE(again.ok()) << "createIndexes must be idempotent: " << again.error().ToString();
  auto compound = store_->EnsureCompoundIndex(coll, {{"job_id", 1}, {"n", -1}}, "job_n", false);
  EXPECT_TRUE(compound.ok()) << compound.error().ToString();

  ASSERT_TRUE(store_->Upsert(coll, "a", {{"url", "https://x/1"}}).ok());
  auto clash = store_->Upsert(coll, "b", {{"url", "https://x/1"}});
  ASSERT_FALSE(clash.ok()) << "unique index did not reject a duplicate url";
  EXPECT_EQ(clash.error().code, "duplicate_key") << clash.error().ToString();
  EXPECT_FALSE(clash.error().transient());

  auto dup_id = store_->Insert(coll, {{"_id", "a"}, {"url", "https://x/2"}});
  ASSERT_FALSE(dup_id.ok());
  EXPECT_EQ(dup_id.error().code, "duplicate_key") << dup_id.error().ToString();
  ASSERT_TRUE(store_->Insert(coll, {{"_id", "c"}, {"url", "https://x/3"}}).ok());
  auto n = store_->Count(coll);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
}

TEST_F(DocStoreTest, ConcurrentCallsShareThePool) {
  const auto coll = NewCollection();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!store_->Upsert(coll, id, {{"t", t}, {"i", i}}).ok()) ++failures;
        auto got = store_->Get(coll, id);
        if (!got.ok() || !got->has_value() || (**got)["i"] != i) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto n = store_->Count(coll);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 100);
}

TEST_F(DocStoreTest, InvalidInputIsPermanent) {
  const auto coll = NewCollection();
  auto not_object = store_->Upsert(coll, "x", json::array({1}));
  ASSERT_FALSE(not_object.ok());
  EXPECT_FALSE(not_object.error().transient());
  auto bad_name = store_->Get("bad$name", "x");
  ASSERT_FALSE(bad_name.ok());
  EXPECT_EQ(bad_name.error().code, "invalid_argument");
}

TEST(DocStoreUnreachableTest, ClosedPortIsTransientWithinTheTimeout) {
  DocstoreConfig config;
  config.uri = "mongodb://127.0.0.1:1/chansum";
  config.timeout = 1s;
  auto store = DocStore::Open(config);
  ASSERT_TRUE(store.ok()) << "Open must not need the server: " << store.error().ToString();
  for (int i = 0; i < 2; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto ping = (*store)->Ping();
    auto got = (*store)->Get("transcripts", "vid");
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(ping.ok());
    EXPECT_TRUE(ping.error().transient()) << ping.error().ToString();
    EXPECT_EQ(ping.error().code, "unavailable") << ping.error().ToString();
    ASSERT_FALSE(got.ok());
    EXPECT_TRUE(got.error().transient()) << got.error().ToString();
    EXPECT_LT(elapsed, 6s) << "two calls with a 1 s timeout";
  }
}

}  // namespace
}  // namespace chansum::docstore
