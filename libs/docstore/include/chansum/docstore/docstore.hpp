#pragma once
// Document store over the MongoDB wire protocol (libmongoc). Documents are nlohmann::json objects
// keyed by a string `_id` (video id, job id); writes are upserts so a redelivered command
// rewrites the same document instead of adding one.
//
// Thread-safe: one DocStore per process; every call borrows a client from a
// mongoc_client_pool_t and returns it. Failures are values: server selection / network problems
// are transient ("unavailable"), everything else (bad document, duplicate key, unsupported
// command) permanent, with libmongoc's message.
//
// Only commands that both MongoDB and the local stack's server (FerretDB) understand are used:
// replace with upsert, find, delete, createIndexes, aggregate-based count, drop, ping.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"
#include "chansum/docstore/config.hpp"

namespace chansum::docstore {

// Whether a server error carrying a PostgreSQL SQLSTATE (FerretDB's backend passes them through)
// is one a retry cures: connection, rollback/serialization, resources, restart, or two creators
// of one database or collection racing. The document store treats those as transient.
[[nodiscard]] bool IsTransientBackendError(std::string_view message);

class DocStore {
 public:
  // Validates the URI and creates the pool. Does not connect (the first call does): a server
  // that is down makes calls fail with transient errors, not Open.
  [[nodiscard]] static Result<std::unique_ptr<DocStore>> Open(const DocstoreConfig& config);
  ~DocStore();
  DocStore(const DocStore&) = delete;
  DocStore& operator=(const DocStore&) = delete;

  // Replaces the document with `_id` = id, or inserts it. `doc` must be an object; its own
  // "_id", if any, is overwritten with `id`.
  [[nodiscard]] Status Upsert(const std::string& collection, const std::string& id,
                              const nlohmann::json& doc);
  // Inserts a new document (it may carry its own "_id"); permanent "duplicate_key" if a unique
  // index (or _id) already holds its value.
  [[nodiscard]] Status Insert(const std::string& collection, const nlohmann::json& doc);
  // The document (including "_id"), or nullopt when there is none.
  [[nodiscard]] Result<std::optional<nlohmann::json>> Get(const std::string& collection,
                                                          const std::string& id);
  // Documents matching a MongoDB query filter ({} = all), at most `limit` (0 = no limit).
  [[nodiscard]] Result<std::vector<nlohmann::json>> Find(const std::string& collection,
                                                         const nlohmann::json& filter,
                                                         std::int64_t limit = 0);
  // True when a document was deleted, false when there was none.
  [[nodiscard]] Result<bool> Delete(const std::string& collection, const std::string& id);
  // Number of documents matching `filter`.
  [[nodiscard]] Result<std::int64_t> Count(const std::string& collection,
                                           const nlohmann::json& filter = nlohmann::json::object());
  // Creates an index (createIndexes command) if it does not exist yet. `keys` like
  // {"job_id": 1}. nlohmann::json orders object keys alphabetically, so use the vector overload
  // for compound indexes whose field order matters:
  // EnsureCompoundIndex.
  [[nodiscard]] Status EnsureIndex(const std::string& collection, const nlohmann::json& keys,
                                   const std::string& name, bool unique);
  [[nodiscard]] Status EnsureCompoundIndex(const std::string& collection,
                                           const std::vector<std::pair<std::string, int>>& keys,
                                           const std::string& name, bool unique);
  // Drops a collection (tests, maintenance); a missing collection counts as success.
  [[nodiscard]] Status Drop(const std::string& collection);
  // Round trip to the server (readiness).
  [[nodiscard]] Status Ping();

  [[nodiscard]] const std::string& database() const noexcept;

 private:
  struct Impl;
  explicit DocStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chansum::docstore
