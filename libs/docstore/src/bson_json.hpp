#pragma once
// JSON <-> BSON conversion (libbson's extended JSON parser and relaxed extended JSON writer).
// Internal to the docstore library; every bson_t is owned by a BsonPtr.
#include <string>
#include <utility>

#include <bson/bson.h>
#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"

namespace chansum::docstore::internal {

// Owns a heap bson_t (std::unique_ptr<bson_t> trips -Wignored-attributes: bson_t is over-aligned).
class BsonPtr {
 public:
  BsonPtr() = default;
  explicit BsonPtr(bson_t* b) noexcept : b_(b) {}
  ~BsonPtr() { Reset(); }
  BsonPtr(BsonPtr&& other) noexcept : b_(std::exchange(other.b_, nullptr)) {}
  BsonPtr& operator=(BsonPtr&& other) noexcept {
    if (this != &other) {
      Reset();
      b_ = std::exchange(other.b_, nullptr);
    }
    return *this;
  }
  BsonPtr(const BsonPtr&) = delete;
  BsonPtr& operator=(const BsonPtr&) = delete;
  [[nodiscard]] bson_t* get() const noexcept { return b_; }

 private:
  void Reset() noexcept {
    if (b_ != nullptr) bson_destroy(b_);
    b_ = nullptr;
  }
  bson_t* b_ = nullptr;
};

// `j` must be a JSON object. Extended JSON markers ({"$date": ...}, {"$numberLong": ...}) are
// honoured; query operators ({"$gt": 3}) pass through as ordinary keys. Permanent error when the
// text is not a document libbson accepts.
[[nodiscard]] Result<BsonPtr> ToBson(const nlohmann::json& j);
// Relaxed extended JSON: numbers stay numbers, dates become {"$date": "..."}.
[[nodiscard]] Result<nlohmann::json> ToJson(const bson_t* b);

}  // namespace chansum::docstore::internal
