#pragma once
// A transient error may say when a retry can help at the earliest (a host blocked for every
// worker until then, a rate-limit token due later; issue 15 §2): its message ends in
// " (retry in N s)" or " (retry in N ms)". The transitions delay its retry by at least that,
// instead of the policy's backoff alone, so a video does not spend its retries against a host
// that is known to refuse it. The hint stays readable in the video's last_error.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "chansum/common/result.hpp"

namespace chansum::pipeline {

// `error` with the hint appended (transient errors only; a permanent one is returned as it is).
[[nodiscard]] inline Error WithRetryAfter(Error error, std::chrono::milliseconds after) {
  if (!error.transient() || after.count() <= 0) return error;
  if (after.count() % 1000 == 0) {
    error.message += " (retry in " + std::to_string(after.count() / 1000) + " s)";
  } else {
    error.message += " (retry in " + std::to_string(after.count()) + " ms)";
  }
  return error;
}

// The hint of a transient error, capped at 24 h; nullopt when there is none.
[[nodiscard]] inline std::optional<std::chrono::milliseconds> RetryAfterOf(const Error& error) {
  if (!error.transient()) return std::nullopt;
  std::string_view m = error.message;
  constexpr std::string_view kOpen = " (retry in ";
  const auto open = m.rfind(kOpen);
  if (open == std::string_view::npos || !m.ends_with(")")) return std::nullopt;
  std::string_view rest = m.substr(open + kOpen.size());
  rest.remove_suffix(1);
  long long n = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
  if (ec != std::errc() || n < 0) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(rest.data() + rest.size() - end));
  std::chrono::milliseconds after{0};
  if (unit == " s") {
    after = std::chrono::milliseconds(std::min<long long>(n, 86400) * 1000);
  } else if (unit == " ms") {
    after = std::chrono::milliseconds(std::min<long long>(n, 86400LL * 1000));
  } else {
    return std::nullopt;
  }
  return after;
}

// `backoff` (the policy's delay for this attempt), or the error's hint when that is longer.
[[nodiscard]] inline std::chrono::milliseconds RetryDelayWithHint(std::chrono::milliseconds backoff,
                                                                  const Error& error) {
  const auto hint = RetryAfterOf(error);
  return hint && *hint > backoff ? *hint : backoff;
}

}  // namespace chansum::pipeline
