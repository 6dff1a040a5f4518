#pragma once
// Conversions between std::string and librabbitmq's amqp_bytes_t (private to this library).
#include <string>

#include <amqp.h>

namespace chansum::amqp::detail {

// A view of `s` (no copy): librabbitmq only reads it while encoding.
inline amqp_bytes_t View(const std::string& s) {
  amqp_bytes_t b;
  b.len = s.size();
  b.bytes = const_cast<char*>(s.data());
  return b;
}

inline std::string BytesToString(amqp_bytes_t b) {
  if (b.len == 0) return {};
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

}  // namespace chansum::amqp::detail
