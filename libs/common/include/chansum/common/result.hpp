#pragma once
// Expected failures are values: Result<T> holds either a T or an Error with a class that tells the
// caller whether retrying can help (transient) or not (permanent).
#include <algorithm>
#include <cassert>
#include <chrono>
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
  // When a retry can help at the earliest (a host blocked for every worker until then, a rate
  // limit's Retry-After): the stage transitions delay the retry by at least this instead of the
  // policy's backoff alone. Only a transient error carries one (see WithRetryAfter).
  std::optional<std::chrono::milliseconds> retry_after;

  Error() = default;
  Error(ErrorClass error_class, std::string error_code, std::string text)
      : cls(error_class), code(std::move(error_code)), message(std::move(text)) {}

  // The longest hint an error carries: a longer one is cut to this.
  static constexpr std::chrono::milliseconds kMaxRetryAfter = std::chrono::hours(24);

  [[nodiscard]] static Error Transient(std::string code, std::string message) {
    return Error{ErrorClass::kTransient, std::move(code), std::move(message)};
  }
  [[nodiscard]] static Error Permanent(std::string code, std::string message) {
    return Error{ErrorClass::kPermanent, std::move(code), std::move(message)};
  }
  [[nodiscard]] bool transient() const noexcept { return cls == ErrorClass::kTransient; }
  // "<class> error [<code>]: <message>", with " (retry in N s)" when it carries a hint.
  [[nodiscard]] std::string ToString() const;
};

// `error` with a retry hint of `after` (capped at Error::kMaxRetryAfter); a permanent error, or an
// `after` that is not positive, leaves it as it is. A longer hint it already holds is kept.
[[nodiscard]] inline Error WithRetryAfter(Error error, std::chrono::milliseconds after) {
  if (!error.transient() || after.count() <= 0) return error;
  after = std::min(after, Error::kMaxRetryAfter);
  if (!error.retry_after || *error.retry_after < after) error.retry_after = after;
  return error;
}

// `error` with "<context>: " in front of its message; its class, code and retry hint are kept.
[[nodiscard]] inline Error Wrapped(Error error, const std::string& context) {
  error.message = context + ": " + error.message;
  return error;
}

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
