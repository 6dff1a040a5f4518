#include "bson_json.hpp"

namespace chansum::docstore::internal {

Result<BsonPtr> ToBson(const nlohmann::json& j) {
  if (!j.is_object()) {
    return Error::Permanent("invalid_document", "a document or filter must be a JSON object, not " +
                                                    std::string(j.type_name()));
  }
  // Invalid UTF-8 in strings is replaced rather than thrown (libbson requires valid UTF-8).
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  bson_error_t error;
  bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(text.data()),
                                 static_cast<ssize_t>(text.size()), &error);
  if (b == nullptr) {
    return Error::Permanent("invalid_document",
                            std::string("JSON not convertible to BSON: ") + error.message);
  }
  return BsonPtr(b);
}

Result<nlohmann::json> ToJson(const bson_t* b) {
  size_t len = 0;
  char* text = bson_as_relaxed_extended_json(b, &len);
  if (text == nullptr) {
    return Error::Permanent("invalid_document", "stored BSON is not convertible to JSON");
  }
  auto j = nlohmann::json::parse(text, text + len, nullptr, /*allow_exceptions=*/false);
  bson_free(text);
  if (j.is_discarded()) {
    return Error::Permanent("invalid_document", "libbson produced JSON that does not parse");
  }
  return j;
}

}  // namespace chansum::docstore::internal
