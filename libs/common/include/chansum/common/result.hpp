#pragma once
// Expected failures are values: Result<T> holds either a T or an Error with a class that tells the
// caller whether retrying can help (transient) or not (permanent).
#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace chansum {

enum class ErrorClass {
  kTransient,  // timeouts, connection loss, 5xx, 429: retry with backoff
  kPermanent,  // bad input, unavailable video, 4xx: fail at once
};

[[nodiscard]] const char* ToString(ErrorClass cls) noexcept;

struct Error {
  ErrorClass cls = ErrorClass::kPermanent;
  std::string code;     // short machine-readable code, e.g. "timeout", "not_found"
  std::string message;  // human-readable explanation

  [[nodiscard]] static Error Transient(std::string code, std::string message) {
    return Error{ErrorClass::kTransient, std::move(code), std::move(message)};
  }
  [[nodiscard]] static Error Permanent(std::string code, std::string message) {
    return Error{ErrorClass::kPermanent, std::move(code), std::move(message)};
  }
  [[nodiscard]] bool transient() const noexcept { return cls == ErrorClass::kTransient; }
  [[nodiscard]] std::string ToString() const;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Ok {};
using Status = Result<Ok>;
[[nodiscard]] inline Status OkStatus() { return Ok{}; }

}  // namespace chansum
