#pragma once
// The project's HTTP server: cpp-httplib's Server with the connection handling replaced, so a
// connection can be refused or cut off for what it does on the socket, not only per read:
// - at most `max_per_client` connections from one client address at once (further ones are
//   answered 503 and closed at once, before anything of theirs is read), so one address cannot
//   take every connection thread (HTTP_MAX_CONNECTIONS_PER_CLIENT);
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

#include <httplib.h>

namespace chansum::http {

class Server : public httplib::Server {
 public:
  Server() = default;
  ~Server() override = default;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // 0: no cap per client / no deadline per request. Call before serving.
  void SetClientLimits(std::size_t max_per_client, std::chrono::seconds request_timeout);

  // Connections open now from `address` (as getpeername reports it, e.g. "127.0.0.2").
  [[nodiscard]] std::size_t OpenConnectionsFrom(const std::string& address) const;

 private:
  // cpp-httplib's per-connection loop (keep-alive, one process_request per request), over a
  // socket stream of our own that enforces the request deadline.
  bool process_and_close_socket(socket_t sock) override;
  bool Admit(const std::string& address);
  void Release(const std::string& address);

  std::size_t max_per_client_ = 0;
  std::chrono::seconds request_timeout_{0};
  mutable std::mutex mu_;
  std::map<std::string, std::size_t> open_;  // client address -> open connections; guarded by mu_
};

}  // namespace chansum::http
