#include "chansum/http/auth.hpp"

#include <algorithm>
#include <cctype>

#include "chansum/http/json_api.hpp"

namespace chansum::http {

bool BearerTokenMatches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "bearer";
  if (token.empty() || authorization.size() <= kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  }
  std::size_t pos = kScheme.size();
  if (authorization[pos] != ' ') return false;
  while (pos < authorization.size() && authorization[pos] == ' ') ++pos;
  const std::string_view given = authorization.substr(pos);
  // Constant time in the content: every byte of the longer string is looked at, and the result
  // depends on all of them (and on the lengths) without an early exit.
  const std::size_t n = std::max(given.size(), token.size());
  unsigned diff = given.size() == token.size() ? 0U : 1U;
  for (std::size_t i = 0; i < n; ++i) {
    const auto a = i < given.size() ? static_cast<unsigned char>(given[i]) : 0U;
    const auto b = i < token.size() ? static_cast<unsigned char>(token[i]) : 0U;
    diff |= a ^ b;
  }
  return diff == 0;
}

bool IsProbeRequest(std::string_view method, std::string_view path) {
  return (method == "GET" || method == "HEAD") && (path == "/healthz" || path == "/readyz");
}

void SendUnauthorized(const httplib::Request& req, httplib::Response& res) {
  res.set_header("WWW-Authenticate", "Bearer realm=\"chansum\"");
  SendError(res, 401, "unauthorized",
            req.has_header("Authorization")
                ? "the bearer token is not valid"
                : "this API needs an Authorization: Bearer <API_TOKEN> header");
}

}  // namespace chansum::http
