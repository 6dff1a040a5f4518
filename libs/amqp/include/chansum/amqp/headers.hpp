#pragma once
// Message headers and queue arguments: a flat table of string or integer values, converted to and
// from librabbitmq's amqp_table_t.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <amqp.h>

namespace chansum::amqp {

using HeaderValue = std::variant<std::string, std::int64_t>;
using Headers = std::map<std::string, HeaderValue, std::less<>>;

// The integer under `key` (nullopt when missing or a string).
[[nodiscard]] std::optional<std::int64_t> HeaderInt(const Headers& headers, std::string_view key);
// The string under `key` (nullopt when missing or an integer).
[[nodiscard]] std::optional<std::string> HeaderString(const Headers& headers, std::string_view key);

// Builds an amqp_table_t view of a Headers map without copying keys or values: the table points
// into `headers` and into this builder, so both must outlive its use and stay unchanged. Reuse one
// builder to avoid an allocation per message. Integers are encoded as signed 64-bit ('l'),
// strings as long strings ('S').
class TableBuilder {
 public:
  [[nodiscard]] amqp_table_t Build(const Headers& headers);

 private:
  std::vector<amqp_table_entry_t> entries_;
};

// Copies a received table. Every integer kind, booleans (0/1) and timestamps become integers;
// strings and byte arrays become strings; floats and decimals become their decimal text; nested
// tables and arrays (e.g. x-death) are skipped.
[[nodiscard]] Headers FromTable(const amqp_table_t& table);

}  // namespace chansum::amqp
