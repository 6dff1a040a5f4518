#include "chansum/docstore/docstore.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string_view>

#include <mongoc/mongoc.h>
#include <spdlog/spdlog.h>

#include "bson_json.hpp"

namespace chansum::docstore {

using internal::BsonPtr;
using internal::ToBson;
using internal::ToJson;
using nlohmann::json;

// FerretDB's PostgreSQL backend passes PostgreSQL's errors through with their SQLSTATE. Those
// that a retry cures are transient: the connection (08), a rollback or serialization failure
// (40), resources (53), an operator's intervention such as a restart (57), a system error (58),
// and two creators of one database or collection racing (42P06, 42P07, 23505 — e.g.
// `relation "_ferretdb_database_metadata" already exists` when two first writes meet).
bool IsTransientBackendError(std::string_view message) {
  const auto at = message.find("SQLSTATE ");
  if (at == std::string_view::npos || message.size() < at + 9 + 5) return false;
  const std::string_view state = message.substr(at + 9, 5);
  for (std::string_view cls : {"08", "40", "53", "57", "58"}) {
    if (state.starts_with(cls)) return true;
  }
  return state == "42P06" || state == "42P07" || state == "23505";
}

namespace {

std::once_flag g_mongoc_init;

void InitMongoc() {
  std::call_once(g_mongoc_init, [] {
    mongoc_init();
    // Route libmongoc's own log lines through spdlog (warnings and worse).
    mongoc_log_set_handler(
        [](mongoc_log_level_t level, const char* domain, const char* message, void*) {
          if (level <= MONGOC_LOG_LEVEL_ERROR) {
            spdlog::error("libmongoc {}: {}", domain, message);
          } else if (level == MONGOC_LOG_LEVEL_WARNING) {
            spdlog::warn("libmongoc {}: {}", domain, message);
          } else {
            spdlog::trace("libmongoc {}: {}", domain, message);
          }
        },
        nullptr);
  });
}

bool IsTransientServerCode(uint32_t code) {
  switch (code) {
    case 6:      // HostUnreachable
    case 7:      // HostNotFound
    case 50:     // MaxTimeMSExpired
    case 89:     // NetworkTimeout
    case 91:     // ShutdownInProgress
    case 189:    // PrimarySteppedDown
    case 262:    // ExceededTimeLimit
    case 9001:   // SocketException
    case 10107:  // NotWritablePrimary
    case 11600:  // InterruptedAtShutdown
    case 11602:  // InterruptedDueToReplStateChange
    case 13435:  // NotPrimaryNoSecondaryOk
    case 13436:  // NotPrimaryOrSecondary
      return true;
    default:
      return false;
  }
}

// libmongoc error (error API version 2) -> Error.
Error FromBsonError(const bson_error_t& e, const std::string& context,
                    const bson_t* reply = nullptr) {
  std::string message = context + ": " + e.message;
  if (e.domain == MONGOC_ERROR_SERVER_SELECTION) {
    return Error::Transient("unavailable", std::move(message));
  }
  if (e.domain == MONGOC_ERROR_STREAM) return Error::Transient("network", std::move(message));
  const bool server = e.domain == MONGOC_ERROR_SERVER || e.domain == MONGOC_ERROR_WRITE_CONCERN ||
                      e.domain == MONGOC_ERROR_QUERY;
  if (server && (e.code == 11000 || e.code == 11001)) {
    return Error::Permanent("duplicate_key", std::move(message));
  }
  if (server && (IsTransientServerCode(e.code) || IsTransientBackendError(e.message))) {
    return Error::Transient("mongo_" + std::to_string(e.code), std::move(message));
  }
  if (reply != nullptr && (mongoc_error_has_label(reply, "RetryableWriteError") ||
                           mongoc_error_has_label(reply, "TransientTransactionError"))) {
    return Error::Transient("mongo_" + std::to_string(e.code), std::move(message));
  }
  return Error::Permanent(server ? "mongo_" + std::to_string(e.code) : "mongo_client",
                          std::move(message));
}

// Borrows a client from the pool for one call.
class PooledClient {
 public:
  explicit PooledClient(mongoc_client_pool_t* pool)
      : pool_(pool), client_(mongoc_client_pool_pop(pool)) {}
  ~PooledClient() { mongoc_client_pool_push(pool_, client_); }
  PooledClient(const PooledClient&) = delete;
  PooledClient& operator=(const PooledClient&) = delete;
  [[nodiscard]] mongoc_client_t* get() const noexcept { return client_; }

 private:
  mongoc_client_pool_t* pool_;
  mongoc_client_t* client_;
};

struct CollectionDeleter {
  void operator()(mongoc_collection_t* c) const { mongoc_collection_destroy(c); }
};
struct CursorDeleter {
  void operator()(mongoc_cursor_t* c) const { mongoc_cursor_destroy(c); }
};
struct DatabaseDeleter {
  void operator()(mongoc_database_t* d) const { mongoc_database_destroy(d); }
};
using CollectionPtr = std::unique_ptr<mongoc_collection_t, CollectionDeleter>;
using CursorPtr = std::unique_ptr<mongoc_cursor_t, CursorDeleter>;
using DatabasePtr = std::unique_ptr<mongoc_database_t, DatabaseDeleter>;

// A bson_t on the stack that is always destroyed (for replies).
struct Reply {
  bson_t doc;
  Reply() { bson_init(&doc); }
  ~Reply() { bson_destroy(&doc); }
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
};

BsonPtr IdFilter(const std::string& id) {
  BsonPtr filter(bson_new());
  BSON_APPEND_UTF8(filter.get(), "_id", id.c_str());
  return filter;
}

std::int64_t ReplyInt(const bson_t& reply, const char* key) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, &reply, key) && BSON_ITER_HOLDS_NUMBER(&it)) {
    return bson_iter_as_int64(&it);
  }
  return 0;
}

Status ValidName(const std::string& collection) {
  if (collection.empty() || collection.find('\0') != std::string::npos ||
      collection.find('$') != std::string::npos) {
    return Error::Permanent("invalid_argument", "invalid collection name \"" + collection + "\"");
  }
  return OkStatus();
}

}  // namespace

struct DocStore::Impl {
  mongoc_uri_t* uri = nullptr;
  mongoc_client_pool_t* pool = nullptr;
  std::string database;
  std::string redacted;

  ~Impl() {
    if (pool != nullptr) mongoc_client_pool_destroy(pool);
    if (uri != nullptr) mongoc_uri_destroy(uri);
  }

  CollectionPtr Collection(const PooledClient& client, const std::string& name) const {
    return CollectionPtr(
        mongoc_client_get_collection(client.get(), database.c_str(), name.c_str()));
  }
};

Result<std::unique_ptr<DocStore>> DocStore::Open(const DocstoreConfig& config) {
  InitMongoc();
  auto impl = std::make_unique<Impl>();
  impl->redacted = config.Redacted();
  bson_error_t error;
  impl->uri = mongoc_uri_new_with_error(config.uri.c_str(), &error);
  if (impl->uri == nullptr) {
    return Error::Permanent("config", "MONGO_URI " + impl->redacted + ": " + error.message);
  }
  const auto timeout_ms =
      static_cast<int32_t>(std::clamp<std::int64_t>(config.timeout.count(), 100, 10 * 60 * 1000));
  // MONGO_TIMEOUT bounds how long a call waits for an unreachable server; options given in the
  // URI itself win. A socket read may take longer (slow queries), but not forever.
  const std::pair<const char*, int32_t> options[] = {
      {MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout_ms},
      {MONGOC_URI_CONNECTTIMEOUTMS, timeout_ms},
      {MONGOC_URI_SOCKETTIMEOUTMS, std::max<int32_t>(30000, 6 * timeout_ms)},
  };
  for (const auto& [name, value] : options) {
    if (!mongoc_uri_has_option(impl->uri, name)) {
      mongoc_uri_set_option_as_int32(impl->uri, name, value);
    }
  }
  const char* uri_db = mongoc_uri_get_database(impl->uri);
  impl->database = uri_db != nullptr && *uri_db != '\0' ? uri_db : config.database;
  if (impl->database.empty()) impl->database = "chansum";

  impl->pool = mongoc_client_pool_new(impl->uri);
  if (impl->pool == nullptr) {
    return Error::Permanent("config",
                            "MONGO_URI " + impl->redacted + ": cannot create client pool");
  }
  mongoc_client_pool_set_error_api(impl->pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_set_appname(impl->pool, "chansum");
  spdlog::info("document store {} (database {})", impl->redacted, impl->database);
  return std::unique_ptr<DocStore>(new DocStore(std::move(impl)));
}

DocStore::DocStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DocStore::~DocStore() = default;

const std::string& DocStore::database() const noexcept { return impl_->database; }

Status DocStore::Upsert(const std::string& collection, const std::string& id, const json& doc) {
  if (auto s = ValidName(collection); !s.ok()) return s;
  if (!doc.is_object()) return Error::Permanent("invalid_document", "document must be an object");
  json replacement = doc;
  replacement["_id"] = id;
  auto bson_doc = ToBson(replacement);
  if (!bson_doc.ok()) return std::move(bson_doc).error();
  BsonPtr opts(BCON_NEW("upsert", BCON_BOOL(true)));
  PooledClient client(impl_->pool);
  auto coll = impl_->Collection(client, collection);
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_replace_one(coll.get(), IdFilter(id).get(), bson_doc->get(), opts.get(),
                                     &reply.doc, &error)) {
    return FromBsonError(error, "upsert " + collection + "/" + id, &reply.doc);
  }
  return OkStatus();
}

Status DocStore::Insert(const std::string& collection, const json& doc) {
  if (auto s = ValidName(collection); !s.ok()) return s;
  auto bson_doc = ToBson(doc);
  if (!bson_doc.ok()) return std::move(bson_doc).error();
  PooledClient client(impl_->pool);
  auto coll = impl_->Collection(client, collection);
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_insert_one(coll.get(), bson_doc->get(), nullptr, &reply.doc, &error)) {
    return FromBsonError(error, "insert into " + collection, &reply.doc);
  }
  return OkStatus();
}

Result<std::optional<json>> DocStore::Get(const std::string& collection, const std::string& id) {
  auto docs = Find(collection, json{{"_id", id}}, 1);
  if (!docs.ok()) return std::move(docs).error();
  if (docs->empty()) return std::optional<json>{};
  return std::optional<json>(std::move(docs->front()));
}

Result<std::vector<json>> DocStore::Find(const std::string& collection, const json& filter,
                                         std::int64_t limit) {
  if (auto s = ValidName(collection); !s.ok()) return std::move(s).error();
  auto bson_filter = ToBson(filter.is_null() ? json::object() : filter);
  if (!bson_filter.ok()) return std::move(bson_filter).error();
  BsonPtr opts(bson_new());
  if (limit > 0) BSON_APPEND_INT64(opts.get(), "limit", limit);
  PooledClient client(impl_->pool);
  auto coll = impl_->Collection(client, collection);
  CursorPtr cursor(
      mongoc_collection_find_with_opts(coll.get(), bson_filter->get(), opts.get(), nullptr));
  std::vector<json> out;
  const bson_t* doc = nullptr;
  while (mongoc_cursor_next(cursor.get(), &doc)) {
    auto j = ToJson(doc);
    if (!j.ok()) return std::move(j).error();
    out.push_back(std::move(*j));
  }
  bson_error_t error;
  const bson_t* reply = nullptr;
  if (mongoc_cursor_error_document(cursor.get(), &error, &reply)) {
    return FromBsonError(error, "find in " + collection, reply);
  }
  return out;
}

Result<bool> DocStore::Delete(const std::string& collection, const std::string& id) {
  if (auto s = ValidName(collection); !s.ok()) return std::move(s).error();
  PooledClient client(impl_->pool);
  auto coll = impl_->Collection(client, collection);
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_delete_one(coll.get(), IdFilter(id).get(), nullptr, &reply.doc, &error)) {
    return FromBsonError(error, "delete " + collection + "/" + id, &reply.doc);
  }
  return ReplyInt(reply.doc, "deletedCount") > 0;
}

Result<std::int64_t> DocStore::Count(const std::string& collection, const json& filter) {
  if (auto s = ValidName(collection); !s.ok()) return std::move(s).error();
  auto bson_filter = ToBson(filter.is_null() ? json::object() : filter);
  if (!bson_filter.ok()) return std::move(bson_filter).error();
  PooledClient client(impl_->pool);
  auto coll = impl_->Collection(client, collection);
  Reply reply;
  bson_error_t error;
  const int64_t n = mongoc_collection_count_documents(coll.get(), bson_filter->get(), nullptr,
                                                      nullptr, &reply.doc, &error);
  if (n < 0) return FromBsonError(error, "count in " + collection, &reply.doc);
  return static_cast<std::int64_t>(n);
}

Status DocStore::EnsureIndex(const std::string& collection, const json& keys,
                             const std::string& name, bool unique) {
  if (!keys.is_object() || keys.empty()) {
    return Error::Permanent("invalid_argument", "index keys must be a non-empty object");
  }
  std::vector<std::pair<std::string, int>> ordered;
  for (const auto& [field, dir] : keys.items()) {
    if (!dir.is_number_integer() || (dir.get<int>() != 1 && dir.get<int>() != -1)) {
      return Error::Permanent("invalid_argument",
                              "index direction of " + field + " must be 1 or -1");
    }
    ordered.emplace_back(field, dir.get<int>());
  }
  return EnsureCompoundIndex(collection, ordered, name, unique);
}

Status DocStore::EnsureCompoundIndex(const std::string& collection,
                                     const std::vector<std::pair<std::string, int>>& keys,
                                     const std::string& name, bool unique) {
  if (auto s = ValidName(collection); !s.ok()) return s;
  if (keys.empty() || name.empty()) {
    return Error::Permanent("invalid_argument", "an index needs keys and a name");
  }
  // {createIndexes: <coll>, indexes: [{key: {...}, name: <name>, unique: <bool>}]}
  BsonPtr cmd(bson_new());
  BSON_APPEND_UTF8(cmd.get(), "createIndexes", collection.c_str());
  bson_t indexes;
  bson_t index;
  bson_t key;
  BSON_APPEND_ARRAY_BEGIN(cmd.get(), "indexes", &indexes);
  BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
  BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
  for (const auto& [field, dir] : keys) BSON_APPEND_INT32(&key, field.c_str(), dir);
  bson_append_document_end(&index, &key);
  BSON_APPEND_UTF8(&index, "name", name.c_str());
  if (unique) BSON_APPEND_BOOL(&index, "unique", true);
  bson_append_document_end(&indexes, &index);
  bson_append_array_end(cmd.get(), &indexes);

  PooledClient client(impl_->pool);
  DatabasePtr db(mongoc_client_get_database(client.get(), impl_->database.c_str()));
  Reply reply;
  bson_error_t error;
  if (!mongoc_database_write_command_with_opts(db.get(), cmd.get(), nullptr, &reply.doc, &error)) {
    return FromBsonError(error, "createIndexes " + name + " on " + collection, &reply.doc);
  }
  return OkStatus();
}

Status DocStore::Drop(const std::string& collection) {
  if (auto s = ValidName(collection); !s.ok()) return s;
  PooledClient client(impl_->pool);
  auto coll = impl_->Collection(client, collection);
  bson_error_t error;
  if (!mongoc_collection_drop_with_opts(coll.get(), nullptr, &error)) {
    // NamespaceNotFound: nothing to drop.
    if (error.code == 26 || std::strstr(error.message, "ns not found") != nullptr) {
      return OkStatus();
    }
    return FromBsonError(error, "drop " + collection);
  }
  return OkStatus();
}

Status DocStore::Ping() {
  PooledClient client(impl_->pool);
  BsonPtr cmd(BCON_NEW("ping", BCON_INT32(1)));
  Reply reply;
  bson_error_t error;
  if (!mongoc_client_command_simple(client.get(), "admin", cmd.get(), nullptr, &reply.doc,
                                    &error)) {
    return FromBsonError(error, "ping " + impl_->redacted, &reply.doc);
  }
  return OkStatus();
}

}  // namespace chansum::docstore
