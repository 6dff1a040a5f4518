#include "auth.hpp"

#include <cctype>

#include "chansum/http/json_api.hpp"

namespace chansum::orchestrator {

bool IsPublicRequest(std::string_view method, std::string_view path) {
  if (method != "GET" && method != "HEAD") return false;
  return path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/" ||
         path == "/ui" || path.starts_with("/ui/");
}

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

httplib::Server::HandlerWithResponse AuthHandler(const std::string& token) {
  if (token.empty()) return {};
  return [token](const httplib::Request& req, httplib::Response& res) {
    if (IsPublicRequest(req.method, req.path) ||
        BearerTokenMatches(req.get_header_value("Authorization"), token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer realm=\"chansum\"");
    http::SendError(res, 401, "unauthorized",
                    req.has_header("Authorization")
                        ? "the bearer token is not valid"
                        : "this API needs an Authorization: Bearer <API_TOKEN> header");
    return httplib::Server::HandlerResponse::Handled;
  };
}

}  // namespace chansum::orchestrator
