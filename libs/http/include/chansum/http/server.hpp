#pragma once
// The project's HTTP server: cpp-httplib's Server with the connection handling replaced, so a
// connection can be refused or cut off for what it does on the socket, not only per read:
// - at most `max_per_client` connections from one client at once (further ones are answered 503
//   and closed at once, before anything of theirs is read), so one client cannot take every
//   connection thread (HTTP_MAX_CONNECTIONS_PER_CLIENT). A client is its address's network: an
//   IPv4 address's /32 by default (HTTP_CLIENT_PREFIX_V4), an IPv6 address's /64
//   (HTTP_CLIENT_PREFIX_V6: one host usually holds a whole /64); IPv4-mapped IPv6 addresses
//   (::ffff:a.b.c.d, a dual-stack listener's IPv4 clients) count as IPv4;
// - each request's head and body must arrive within `request_timeout` of its first byte, so a
//   client sending one byte every few seconds, which each read's own timeout never catches, is
//   cut off (HTTP_REQUEST_TIMEOUT).
// Everything else (routing, keep-alive, read and write timeouts, payload limit) is cpp-httplib's.
// ConfigureJsonServer (json_api.hpp) sets these limits from ServerLimits.
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include <httplib.h>

namespace chansum::http {

// The client a connection from `address` (as getpeername reports it) is counted as: its network
// at the prefix of its family ("127.0.0.0/24", "2001:db8:1:2::/64"); an IPv4-mapped IPv6 address
// is read as its IPv4 address. Something that is no IP address counts as itself.
[[nodiscard]] std::string ClientKey(std::string_view address, int prefix_v4, int prefix_v6);

class Server : public httplib::Server {
 public:
  Server() = default;
  ~Server() override = default;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // 0: no cap per client / no deadline per request. Call before serving.
  void SetClientLimits(std::size_t max_per_client, std::chrono::seconds request_timeout);
  // The prefixes a client's addresses are counted under (default 32 and 64). Call before serving.
  void SetClientPrefixes(int prefix_v4, int prefix_v6);

  // Connections open now from the client `address` belongs to (e.g. "127.0.0.2": its /32, or
  // with a prefix of 24 every address of 127.0.0.0/24).
  [[nodiscard]] std::size_t OpenConnectionsFrom(const std::string& address) const;

 private:
  // cpp-httplib's per-connection loop (keep-alive, one process_request per request), over a
  // socket stream of our own that enforces the request deadline.
  bool process_and_close_socket(socket_t sock) override;
  bool Admit(const std::string& address);
  void Release(const std::string& address);

  std::size_t max_per_client_ = 0;
  int prefix_v4_ = 32;
  int prefix_v6_ = 64;
  std::chrono::seconds request_timeout_{0};
  mutable std::mutex mu_;
  std::map<std::string, std::size_t> open_;  // ClientKey -> open connections; guarded by mu_
};

}  // namespace chansum::http
