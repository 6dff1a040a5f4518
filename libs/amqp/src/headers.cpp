#include "chansum/amqp/headers.hpp"

#include "bytes.hpp"

#include <cstdio>
#include <cstring>

namespace chansum::amqp {

using detail::BytesToString;
using detail::View;
namespace {

std::string ToString(amqp_bytes_t bytes) {
  return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

}  // namespace

std::optional<std::int64_t> HeaderInt(const Headers& headers, std::string_view key) {
  auto it = headers.find(key);
  if (it == headers.end()) return std::nullopt;
  if (const auto* v = std::get_if<std::int64_t>(&it->second)) return *v;
  return std::nullopt;
}

std::optional<std::string> HeaderString(const Headers& headers, std::string_view key) {
  auto it = headers.find(key);
  if (it == headers.end()) return std::nullopt;
  if (const auto* v = std::get_if<std::string>(&it->second)) return *v;
  return std::nullopt;
}

amqp_table_t TableBuilder::Build(const Headers& headers) {
  entries_.clear();
  entries_.reserve(headers.size());
  for (const auto& [key, value] : headers) {
    amqp_table_entry_t entry;
    std::memset(&entry, 0, sizeof(entry));
    entry.key = View(key);
    if (const auto* s = std::get_if<std::string>(&value)) {
      entry.value.kind = AMQP_FIELD_KIND_UTF8;
      entry.value.value.bytes = View(*s);
    } else {
      entry.value.kind = AMQP_FIELD_KIND_I64;
      entry.value.value.i64 = std::get<std::int64_t>(value);
    }
    entries_.push_back(entry);
  }
  amqp_table_t table;
  table.num_entries = static_cast<int>(entries_.size());
  table.entries = entries_.empty() ? nullptr : entries_.data();
  return table;
}

Headers FromTable(const amqp_table_t& table) {
  Headers out;
  for (int i = 0; i < table.num_entries; ++i) {
    const amqp_table_entry_t& e = table.entries[i];
    std::string key = ToString(e.key);
    const amqp_field_value_t& v = e.value;
    switch (v.kind) {
      case AMQP_FIELD_KIND_BOOLEAN:
        out.emplace(std::move(key), std::int64_t{v.value.boolean ? 1 : 0});
        break;
      case AMQP_FIELD_KIND_I8:
        out.emplace(std::move(key), std::int64_t{v.value.i8});
        break;
      case AMQP_FIELD_KIND_U8:
        out.emplace(std::move(key), std::int64_t{v.value.u8});
        break;
      case AMQP_FIELD_KIND_I16:
        out.emplace(std::move(key), std::int64_t{v.value.i16});
        break;
      case AMQP_FIELD_KIND_U16:
        out.emplace(std::move(key), std::int64_t{v.value.u16});
        break;
      case AMQP_FIELD_KIND_I32:
        out.emplace(std::move(key), std::int64_t{v.value.i32});
        break;
      case AMQP_FIELD_KIND_U32:
        out.emplace(std::move(key), std::int64_t{v.value.u32});
        break;
      case AMQP_FIELD_KIND_I64:
        out.emplace(std::move(key), std::int64_t{v.value.i64});
        break;
      case AMQP_FIELD_KIND_U64:
      case AMQP_FIELD_KIND_TIMESTAMP:
        out.emplace(std::move(key), static_cast<std::int64_t>(v.value.u64));
        break;
      case AMQP_FIELD_KIND_F32:
        out.emplace(std::move(key), std::to_string(v.value.f32));
        break;
      case AMQP_FIELD_KIND_F64:
        out.emplace(std::move(key), std::to_string(v.value.f64));
        break;
      case AMQP_FIELD_KIND_DECIMAL: {
        double d = static_cast<double>(v.value.decimal.value);
        for (int k = 0; k < v.value.decimal.decimals; ++k) d /= 10;
        out.emplace(std::move(key), std::to_string(d));
        break;
      }
      case AMQP_FIELD_KIND_UTF8:
      case AMQP_FIELD_KIND_BYTES:
        out.emplace(std::move(key), ToString(v.value.bytes));
        break;
      default:  // nested tables, arrays, void
        break;
    }
  }
  return out;
}

}  // namespace chansum::amqp
