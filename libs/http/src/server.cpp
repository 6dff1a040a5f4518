#include "chansum/http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>

#include <spdlog/spdlog.h>

#include "chansum/http/json_api.hpp"
#include "chansum/metrics/metrics.hpp"
#include "chansum/net/address.hpp"

namespace chansum::http {
namespace {

using Clock = std::chrono::steady_clock;

metrics::Family<metrics::Counter>& ConnectionsCut() {
  static auto& family = metrics::Registry::Default().AddCounter(
      "chansum_http_connections_cut_total",
      "Connections refused or closed for their client's behaviour: reason=per_client (over "
      "HTTP_MAX_CONNECTIONS_PER_CLIENT), request_timeout (a request not in within "
      "HTTP_REQUEST_TIMEOUT).",
      {"reason"});
  return family;
}

// At most one warning per second for each reason: a flood must not flood the log too.
void WarnRarely(std::atomic<std::int64_t>& last, const std::string& message) {
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  auto previous = last.load();
  if (now > previous && last.compare_exchange_strong(previous, now)) spdlog::warn("{}", message);
}

std::atomic<std::int64_t> g_last_per_client_warning{0};
std::atomic<std::int64_t> g_last_timeout_warning{0};

// poll() for one event with a timeout; > 0 ready, 0 timed out, < 0 error. poll, not select: a
// busy server has descriptors above FD_SETSIZE.
int PollFor(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  int rc = 0;
  do {
    rc = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(timeout.count(), 0)));
  } while (rc < 0 && errno == EINTR);
  return rc;
}

void AddressOf(bool peer, int fd, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                      : ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ip.clear();
  port = 0;
  if (rc != 0) return;
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    if (::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf) != nullptr) ip = buf;
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf) != nullptr) ip = buf;
    port = ntohs(a->sin6_port);
  }
}

// A socket stream like cpp-httplib's own (buffered reads, per-read and per-write timeouts) that
// also fails every read once the current request's deadline has passed.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int sock, std::chrono::milliseconds read_timeout,
                 std::chrono::milliseconds write_timeout)
      : sock_(sock), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

  // A new request begins (its first byte is here): it has `limit` to arrive whole; 0: no limit.
  void StartRequest(std::chrono::seconds limit) {
    deadline_ = limit.count() > 0 ? std::optional(Clock::now() + limit) : std::nullopt;
  }
  [[nodiscard]] bool Expired() const { return expired_; }
  [[nodiscard]] bool HasBuffered() const { return pos_ < end_; }

  bool is_readable() const override {
    return HasBuffered() || PollFor(sock_, POLLIN, ReadWait()) > 0;
  }
  bool is_writable() const override {
    if (PollFor(sock_, POLLOUT, write_timeout_) <= 0) return false;
    // Like cpp-httplib: a peer that closed its end makes the socket "readable" with 0 bytes.
    if (PollFor(sock_, POLLIN, std::chrono::milliseconds(0)) > 0) {
      char c = 0;
      const ssize_t n = ::recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0) return false;
    }
    return true;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (HasBuffered()) return TakeBuffered(ptr, size);
    if (deadline_ && Clock::now() >= *deadline_) {
      expired_ = true;
      return -1;
    }
    if (PollFor(sock_, POLLIN, ReadWait()) <= 0) {
      if (deadline_ && Clock::now() >= *deadline_) expired_ = true;
      return -1;
    }
    if (size >= sizeof buffer_) return Recv(ptr, size);
    const ssize_t n = Recv(buffer_, sizeof buffer_);
    if (n <= 0) return n;
    pos_ = 0;
    end_ = static_cast<std::size_t>(n);
    return TakeBuffered(ptr, size);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n = 0;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    AddressOf(true, sock_, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    AddressOf(false, sock_, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  // The read timeout, shortened to what is left of the request's deadline.
  std::chrono::milliseconds ReadWait() const {
    if (!deadline_) return read_timeout_;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now());
    return std::clamp(left, std::chrono::milliseconds(0), read_timeout_);
  }
  ssize_t Recv(char* ptr, size_t size) {
    ssize_t n = 0;
    do {
      n = ::recv(sock_, ptr, size, 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  ssize_t TakeBuffered(char* ptr, size_t size) {
    const std::size_t n = std::min(size, end_ - pos_);
    std::memcpy(ptr, buffer_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  const int sock_;
  const std::chrono::milliseconds read_timeout_;
  const std::chrono::milliseconds write_timeout_;
  std::optional<Clock::time_point> deadline_;
  bool expired_ = false;
  char buffer_[4096] = {};
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
};

std::chrono::milliseconds ToMillis(time_t sec, time_t usec) {
  return std::chrono::milliseconds(sec * 1000 + usec / 1000);
}

// 503 with the usual error body, sent without waiting (the socket's buffer is empty and the
// answer small), then the caller closes the connection.
void RefuseBusyClient(int sock) {
  const std::string body =
      ErrorBody("too_many_connections",
                "too many connections from your address at once; close some and try again");
  const std::string answer =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
  [[maybe_unused]] const ssize_t n =
      ::send(sock, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

// Closes a connection without losing the last answer: closing a socket with unread input (the
// body of a request refused before it was read: 411, 413, 415) makes the kernel send a reset,
// and a reset makes the client's kernel drop the answer it has not read yet. So: end our side,
// then read and discard what the client still sends, for a bounded time and amount, then close.
void CloseGracefully(int sock) {
  ::shutdown(sock, SHUT_WR);
  char sink[4096];
  std::size_t drained = 0;
  const auto until = Clock::now() + std::chrono::seconds(1);
  while (drained < (1u << 20) && Clock::now() < until &&
         PollFor(sock, POLLIN, std::chrono::milliseconds(100)) > 0) {
    const ssize_t n = ::recv(sock, sink, sizeof sink, MSG_DONTWAIT);
    if (n <= 0) break;
    drained += static_cast<std::size_t>(n);
  }
  ::close(sock);
}

}  // namespace

std::string ClientKey(std::string_view address, int prefix_v4, int prefix_v6) {
  auto ip = net::ParseIp(address);
  if (!ip) return std::string(address);
  constexpr std::array<std::uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!ip->v4 && std::equal(kMapped.begin(), kMapped.end(), ip->bytes.begin())) {
    ip = net::IpAddress::V4(ip->V4Value());  // ::ffff:a.b.c.d is the IPv4 client a.b.c.d
  }
  const int prefix = ip->v4 ? 96 + std::clamp(prefix_v4, 0, 32) : std::clamp(prefix_v6, 0, 128);
  net::Network network{*ip, prefix};
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(prefix - 8 * i, 0, 8);
    network.base.bytes[static_cast<std::size_t>(i)] &=
        static_cast<std::uint8_t>(0xff00u >> static_cast<unsigned>(keep));
  }
  return network.ToString();
}

void Server::SetClientLimits(std::size_t max_per_client, std::chrono::seconds request_timeout) {
  max_per_client_ = max_per_client;
  request_timeout_ = request_timeout;
}

void Server::SetClientPrefixes(int prefix_v4, int prefix_v6) {
  prefix_v4_ = prefix_v4;
  prefix_v6_ = prefix_v6;
}

std::size_t Server::OpenConnectionsFrom(const std::string& address) const {
  std::lock_guard lock(mu_);
  const auto it = open_.find(ClientKey(address, prefix_v4_, prefix_v6_));
  return it == open_.end() ? 0 : it->second;
}

bool Server::Admit(const std::string& address) {
  std::lock_guard lock(mu_);
  auto& count = open_[address];
  if (max_per_client_ > 0 && count >= max_per_client_) {
    if (count == 0) open_.erase(address);
    return false;
  }
  ++count;
  return true;
}

void Server::Release(const std::string& address) {
  std::lock_guard lock(mu_);
  const auto it = open_.find(address);
  if (it != open_.end() && --it->second == 0) open_.erase(it);
}

bool Server::process_and_close_socket(socket_t sock) {
  DeadlineStream stream(sock, ToMillis(read_timeout_sec_, read_timeout_usec_),
                        ToMillis(write_timeout_sec_, write_timeout_usec_));
  std::string address;
  int port = 0;
  stream.get_remote_ip_and_port(address, port);
  const std::string client = ClientKey(address, prefix_v4_, prefix_v6_);
  bool ok = false;
  if (!Admit(client)) {
    ConnectionsCut().Labels({"per_client"}).Inc();
    WarnRarely(g_last_per_client_warning,
               "refused a connection from " + address + ": already " +
                   std::to_string(max_per_client_) + " open from its client " + client +
                   " (HTTP_MAX_CONNECTIONS_PER_CLIENT, HTTP_CLIENT_PREFIX_V4/_V6)");
    RefuseBusyClient(sock);
  } else {
    // cpp-httplib's keep-alive loop: wait up to the keep-alive timeout for the next request's
    // first byte (in short slices, so a stopping server does not wait for it), then serve it.
    const auto keep_alive = std::chrono::seconds(keep_alive_timeout_sec_);
    for (std::size_t count = keep_alive_max_count_; count > 0; --count) {
      bool arrived = stream.HasBuffered();
      for (const auto until = Clock::now() + keep_alive; !arrived && Clock::now() < until;) {
        if (svr_sock_ == INVALID_SOCKET) break;
        const int rc = PollFor(sock, POLLIN, std::chrono::milliseconds(50));
        if (rc < 0) break;
        arrived = rc > 0;
      }
      if (!arrived || svr_sock_ == INVALID_SOCKET) break;
      stream.StartRequest(request_timeout_);
      bool connection_closed = false;
      ok = process_request(stream, count == 1, connection_closed, nullptr);
      if (stream.Expired()) {
        ConnectionsCut().Labels({"request_timeout"}).Inc();
        WarnRarely(g_last_timeout_warning,
                   "closed a connection from " + address + ": its request was not in within " +
                       std::to_string(request_timeout_.count()) + "s (HTTP_REQUEST_TIMEOUT)");
        break;
      }
      if (!ok || connection_closed) break;
    }
    Release(client);
  }
  CloseGracefully(sock);
  return ok;
}

}  // namespace chansum::http
