#pragma once
// A libcurl request held to what DestinationPolicy allowed (SSRF, issue 18 §4.4), for every
// fetcher that uses libcurl (the direct media download, the subscription feed pre-check): curl
// connects only to the addresses the policy resolved (CURLOPT_RESOLVE: no second DNS answer), each
// connect is checked again (CURLOPT_OPENSOCKETFUNCTION), redirects are not followed by curl (the
// caller checks each hop), no proxy comes from the environment, only http and https are spoken.
// Header-only: its users link CURL::libcurl themselves.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <curl/curl.h>

#include "chansum/common/result.hpp"
#include "chansum/net/curl_handles.hpp"
#include "chansum/net/destination.hpp"

namespace chansum::net {

// What the connect check of one request saw: the policy, the URL's host, and its refusal if any
// (the caller returns it instead of curl's "couldn't connect").
struct CurlConnectCheck {
  const DestinationPolicy* policy = nullptr;
  std::string host;
  std::optional<Error> refused;
};

// CURLOPT_OPENSOCKETFUNCTION (CURLOPT_OPENSOCKETDATA: a CurlConnectCheck): a socket only for an
// address policy->CheckConnect allows for the host.
inline curl_socket_t OpenCheckedSocket(void* clientp, curlsocktype purpose,
                                       curl_sockaddr* address) {
  auto* check = static_cast<CurlConnectCheck*>(clientp);
  if (purpose != CURLSOCKTYPE_IPCXN || address == nullptr) {
    check->refused = Error::Permanent(kDestinationNotAllowed, "unexpected socket request");
    return CURL_SOCKET_BAD;
  }
  std::uint16_t port = 0;
  const auto ip = FromSockaddr(&address->addr, &port);
  if (!ip) {
    check->refused = Error::Permanent(kDestinationNotAllowed, "unknown address family");
    return CURL_SOCKET_BAD;
  }
  if (auto allowed = check->policy->CheckConnect(check->host, *ip, port); !allowed.ok()) {
    check->refused = std::move(allowed).error();
    return CURL_SOCKET_BAD;
  }
  const int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

// Holds `c` to `destination` (policy.Resolve's answer for the URL `c` will fetch). `check` and
// `resolve` must outlive the transfer.
inline void PinToDestination(CURL* c, const DestinationPolicy& policy,
                             const DestinationPolicy::Destination& destination,
                             CurlConnectCheck& check, SlistPtr& resolve) {
  const auto& target = destination.target;
  check.policy = &policy;
  check.host = target.host;
  if (!target.ip_literal) {
    std::string entry = target.host + ":" + std::to_string(target.port) + ":";
    for (std::size_t i = 0; i < destination.addresses.size(); ++i) {
      const auto& a = destination.addresses[i];
      entry += (i ? "," : "") + (a.v4 ? a.ToString() : "[" + a.ToString() + "]");
    }
    resolve.reset(curl_slist_append(nullptr, entry.c_str()));
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
  }
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // each hop is checked by the caller
  curl_easy_setopt(c, CURLOPT_PROXY, "");           // no proxy from the environment
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenCheckedSocket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &check);
}

}  // namespace chansum::net
