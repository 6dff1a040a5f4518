#include "chansum/egress/proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "chansum/common/strings.hpp"

namespace chansum::egress {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kRelayBuffer = std::size_t{16} * 1024;

// strerrordesc_np: thread-safe (strerror is not), glibc 2.32+.
std::string Errno(int err) {
  const char* text = ::strerrordesc_np(err);
  return text != nullptr ? text : "error " + std::to_string(err);
}

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int Get() const { return fd_; }
  [[nodiscard]] bool Valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(
      std::clamp<std::int64_t>(left.count(), 0, std::int64_t{24} * 3600 * 1000));
}

// Writes all of `data` (blocking socket; SO_SNDTIMEO bounds a stalled peer). False on error.
bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void SetTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// A reason phrase may hold no CR, LF or other control characters.
std::string ReasonPhrase(std::string_view text) {
  std::string out;
  out.reserve(std::min<std::size_t>(text.size(), 400));
  for (const char c : text) {
    if (out.size() >= 400) break;
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  return out;
}

std::string Answer(int status, std::string_view reason) {
  return "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(reason) +
         "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto v = (static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8) |
                   static_cast<unsigned>(static_cast<unsigned char>(in[i + 2]));
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63],
            kAlphabet[v & 63]};
  }
  if (i + 1 == in.size()) {
    const auto v = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const auto v = (static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

std::string PercentDecode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      unsigned value = 0;
      const auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
      if (ec == std::errc() && p == in.data() + i + 3) {
        out.push_back(static_cast<char>(value));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

// One parsed request head.
struct RequestHead {
  std::string method;
  std::string target;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
};

std::optional<RequestHead> ParseHead(std::string_view head) {
  RequestHead r;
  auto line_end = head.find("\r\n");
  if (line_end == std::string_view::npos) return std::nullopt;
  const auto line = head.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return std::nullopt;
  r.method = std::string(line.substr(0, sp1));
  r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  r.version = std::string(line.substr(sp2 + 1));
  if (!r.version.starts_with("HTTP/1.") || r.target.empty() ||
      r.target.find(' ') != std::string::npos) {
    return std::nullopt;
  }
  std::size_t pos = line_end + 2;
  while (pos < head.size()) {
    const auto end = head.find("\r\n", pos);
    if (end == std::string_view::npos || end == pos) break;
    const auto field = head.substr(pos, end - pos);
    pos = end + 2;
    const auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    r.headers.emplace_back(std::string(field.substr(0, colon)),
                           std::string(TrimWhitespace(field.substr(colon + 1))));
  }
  return r;
}

// "host:port", "[v6]:port" or Python's unbracketed "v6:port" -> a URL the policy reads.
std::optional<std::string> ConnectUrl(std::string_view authority) {
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = authority.substr(0, colon);
  const auto port = authority.substr(colon + 1);
  if (port.empty() ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  if (host.find(':') != std::string_view::npos && host.front() != '[') {
    return "https://[" + std::string(host) + "]:" + std::string(port) + "/";
  }
  return "https://" + std::string(host) + ":" + std::string(port) + "/";
}

bool EqualsNoCase(std::string_view a, std::string_view lower) {
  return a.size() == lower.size() && StartsWithNoCase(a, lower);
}

bool IsHopByHop(std::string_view name) {
  for (const char* h : {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                        "proxy-authenticate", "te", "trailer", "upgrade"}) {
    if (EqualsNoCase(name, h)) return true;
  }
  return false;
}

sockaddr_storage ToSockaddr(const net::IpAddress& address, std::uint16_t port, socklen_t* len) {
  sockaddr_storage ss{};
  if (address.v4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(address.V4Value());
    *len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, address.bytes.data(), 16);
    *len = sizeof(sockaddr_in6);
  }
  return ss;
}

}  // namespace

Result<Upstream> ParseUpstream(std::string_view url) {
  const auto bad = [] {
    return Error::Permanent("invalid_proxy",
                            "the egress proxy chains only to an http:// proxy "
                            "(http://[user:password@]host:port); set YTDLP_EGRESS_PROXY=0 to give "
                            "yt-dlp this proxy directly (its fetches are then not checked)");
  };
  if (!StartsWithNoCase(url, "http://")) return bad();
  std::string_view rest = url.substr(7);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) return bad();
  Upstream up;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    up.authorization = "Basic " + Base64(PercentDecode(rest.substr(0, at)));
    rest.remove_prefix(at + 1);
  }
  auto target = net::ParseUrlTarget("http://" + std::string(rest) + "/");
  if (!target.ok()) return bad();
  up.host = target->host;
  up.port = target->port;  // explicit, or 80 as for any http:// URL
  return up;
}

EgressConfig EgressConfig::FromEnv(ConfigReader& env) {
  EgressConfig c;
  c.enabled = env.Bool("YTDLP_EGRESS_PROXY", c.enabled);
  c.connect_timeout = env.Duration("EGRESS_CONNECT_TIMEOUT", c.connect_timeout);
  c.idle_timeout = env.Duration("EGRESS_IDLE_TIMEOUT", c.idle_timeout);
  c.header_timeout = env.Duration("EGRESS_HEADER_TIMEOUT", c.header_timeout);
  c.max_tunnels = static_cast<int>(env.Int("EGRESS_MAX_TUNNELS", c.max_tunnels, 1, 1024));
  for (const auto* t : {&c.connect_timeout, &c.idle_timeout, &c.header_timeout}) {
    if (t->count() <= 0) env.AddProblem("EGRESS_*_TIMEOUT: a timeout must be positive");
  }
  const auto proxy = env.String("YTDLP_PROXY", "");
  if (c.enabled && !proxy.empty()) {
    auto up = ParseUpstream(proxy);
    if (up.ok()) {
      c.upstream = std::move(*up);
    } else {
      env.AddProblem("YTDLP_PROXY with YTDLP_EGRESS_PROXY=1: " + up.error().message);
    }
  }
  return c;
}

struct EgressProxy::Impl {
  EgressConfig config;
  net::DestinationPolicy policy;
  Fd listener;
  Fd wake_read;  // readable once Stop() wrote to wake_write: every poll loop wakes
  Fd wake_write;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Fd> queue;  // accepted, not yet served
  int busy_workers = 0;
  std::thread acceptor;
  std::vector<std::thread> workers;
  std::atomic<std::uint64_t> accepted{0}, refused{0}, busy{0}, failed{0}, tunnels{0}, forwarded{0};

  void AcceptLoop();
  void WorkLoop();
  void Serve(Fd client);
  // Reads until the end of the request head; false (after answering) on timeout/size/EOF.
  // Reads a message head into `buffer`; a client whose head is too large or too slow is answered
  // 431/408 when `answer_errors` (not the upstream proxy, whose answer is being read).
  bool ReadHead(int fd, std::string& buffer, std::size_t& head_end, bool answer_errors = true);
  // Connects with the connect timeout; -1 and `why` on failure.
  Fd Connect(const net::IpAddress& address, std::uint16_t port, std::string& why);
  Fd ConnectUpstream(std::string& why);
  // Copies bytes both ways until both sides closed, an error, the idle timeout or Stop().
  void Relay(int a, int b);
  void Reply(int fd, int status, std::string_view reason) {
    (void)SendAll(fd, Answer(status, reason));
  }
};

EgressProxy::EgressProxy(std::unique_ptr<Impl> impl, std::uint16_t port)
    : impl_(std::move(impl)), port_(port) {}

EgressProxy::~EgressProxy() { Stop(); }

std::string EgressProxy::Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

EgressProxy::Stats EgressProxy::stats() const {
  return Stats{impl_->accepted.load(), impl_->refused.load(), impl_->busy.load(),
               impl_->failed.load(),   impl_->tunnels.load(), impl_->forwarded.load()};
}

Result<std::unique_ptr<EgressProxy>> EgressProxy::Start(EgressConfig config,
                                                        net::DestinationPolicy policy) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->policy = std::move(policy);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Error::Transient("egress_start", "pipe: " + Errno(errno));
  }
  impl->wake_read = Fd(pipe_fds[0]);
  impl->wake_write = Fd(pipe_fds[1]);
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener.Valid()) return Error::Transient("egress_start", "socket: " + Errno(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listener.Get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener.Get(), 128) != 0) {
    return Error::Transient("egress_start", "bind/listen on 127.0.0.1: " + Errno(errno));
  }
  socklen_t len = sizeof addr;
  if (::getsockname(listener.Get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Error::Transient("egress_start", "getsockname: " + Errno(errno));
  }
  const auto port = ntohs(addr.sin_port);
  impl->listener = std::move(listener);
  Impl* raw = impl.get();
  raw->acceptor = std::thread([raw] { raw->AcceptLoop(); });
  for (int i = 0; i < raw->config.max_tunnels; ++i) {
    raw->workers.emplace_back([raw] { raw->WorkLoop(); });
  }
  spdlog::info("egress proxy for yt-dlp on 127.0.0.1:{} (at most {} connections{})", port,
               raw->config.max_tunnels,
               raw->config.upstream ? ", chained to the upstream proxy YTDLP_PROXY" : "");
  return std::unique_ptr<EgressProxy>(new EgressProxy(std::move(impl), port));
}

void EgressProxy::Stop() {
  if (!impl_) return;
  {
    // Under the lock: a worker between its wait condition and its sleep must not miss the wake-up.
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping.exchange(true)) return;
  }
  const char byte = 1;
  (void)!::write(impl_->wake_write.Get(), &byte, 1);
  impl_->cv.notify_all();
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
  for (auto& w : impl_->workers) {
    if (w.joinable()) w.join();
  }
  std::lock_guard lock(impl_->mu);
  impl_->queue.clear();
}

void EgressProxy::Impl::AcceptLoop() {
  while (!stopping.load()) {
    std::array<pollfd, 2> fds{pollfd{listener.Get(), POLLIN, 0},
                              pollfd{wake_read.Get(), POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("egress proxy: poll: {}", Errno(errno));
      return;
    }
    if (fds[1].revents != 0 || stopping.load()) return;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    Fd client(::accept4(listener.Get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
    if (!client.Valid()) {
      // Out of descriptors: the listener stays readable, so wait a little instead of spinning.
      if (errno == EMFILE || errno == ENFILE) {
        spdlog::warn("egress proxy: accept: {}", Errno(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;
    }
    // Only this host's processes (yt-dlp) may use it: it listens on 127.0.0.1, and a peer that
    // is not loopback (none should be able to reach it) is dropped.
    const auto address = net::FromSockaddr(reinterpret_cast<const sockaddr*>(&peer));
    if (!address || net::Classify(*address) != net::AddressKind::kLoopback) continue;
    ++accepted;
    std::unique_lock lock(mu);
    if (static_cast<int>(queue.size()) + busy_workers >= config.max_tunnels) {
      lock.unlock();
      ++busy;
      SetTimeouts(client.Get(), std::chrono::milliseconds(1000));
      Reply(client.Get(), 503, "egress proxy busy: EGRESS_MAX_TUNNELS connections are open");
      continue;
    }
    queue.push_back(std::move(client));
    lock.unlock();
    cv.notify_one();
  }
}

void EgressProxy::Impl::WorkLoop() {
  while (true) {
    Fd client;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [this] { return stopping.load() || !queue.empty(); });
      if (stopping.load()) return;
      client = std::move(queue.front());
      queue.pop_front();
      ++busy_workers;
    }
    try {
      Serve(std::move(client));
    } catch (const std::exception& e) {
      spdlog::error("egress proxy: {}", e.what());
    }
    std::lock_guard lock(mu);
    --busy_workers;
  }
}

bool EgressProxy::Impl::ReadHead(int fd, std::string& buffer, std::size_t& head_end,
                                 bool answer_errors) {
  const auto deadline = Clock::now() + config.header_timeout;
  std::array<char, 4096> chunk{};
  while (true) {
    if (const auto end = buffer.find("\r\n\r\n"); end != std::string::npos) {
      head_end = end + 4;
      return true;
    }
    if (buffer.size() > config.max_head_bytes) {
      if (answer_errors) Reply(fd, 431, "request head too large for the egress proxy");
      return false;
    }
    std::array<pollfd, 2> fds{pollfd{fd, POLLIN, 0}, pollfd{wake_read.Get(), POLLIN, 0}};
    const int rc = ::poll(fds.data(), fds.size(), RemainingMs(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) {
      if (rc == 0 && answer_errors) Reply(fd, 408, "request head not received in time");
      return false;
    }
    if (fds[1].revents != 0) return false;
    const ssize_t n = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (n <= 0) return false;
    buffer.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

Fd EgressProxy::Impl::Connect(const net::IpAddress& address, std::uint16_t port, std::string& why) {
  socklen_t len = 0;
  const auto ss = ToSockaddr(address, port, &len);
  Fd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.Valid()) {
    why = "socket: " + Errno(errno);
    return {};
  }
  const std::string where = address.ToString() + ":" + std::to_string(port);
  if (::connect(fd.Get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) {
      why = "cannot connect to " + where + ": " + Errno(errno);
      return {};
    }
    std::array<pollfd, 2> fds{pollfd{fd.Get(), POLLOUT, 0}, pollfd{wake_read.Get(), POLLIN, 0}};
    const auto deadline = Clock::now() + config.connect_timeout;
    int rc = 0;
    do {
      rc = ::poll(fds.data(), fds.size(), RemainingMs(deadline));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      why = "connection to " + where + " timed out";
      return {};
    }
    if (rc < 0 || fds[1].revents != 0) {
      why = "egress proxy stopping";
      return {};
    }
    int err = 0;
    socklen_t err_len = sizeof err;
    ::getsockopt(fd.Get(), SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) {
      why = "cannot connect to " + where + ": " + Errno(err);
      return {};
    }
  }
  const int flags = ::fcntl(fd.Get(), F_GETFL);
  ::fcntl(fd.Get(), F_SETFL, flags & ~O_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd.Get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  SetTimeouts(fd.Get(), config.idle_timeout);
  return fd;
}

Fd EgressProxy::Impl::ConnectUpstream(std::string& why) {
  // The operator's own proxy: resolved by the system, not checked (like LLM_API_URL).
  auto addresses = net::SystemResolve(config.upstream->host);
  if (!addresses.ok()) {
    why = "upstream proxy: " + addresses.error().message;
    return {};
  }
  for (const auto& a : *addresses) {
    auto fd = Connect(a, config.upstream->port, why);
    if (fd.Valid()) return fd;
  }
  why = "upstream proxy: " + why;
  return {};
}

void EgressProxy::Impl::Relay(int a, int b) {
  std::array<char, kRelayBuffer> buffer{};
  bool a_open = true;  // a still sends
  bool b_open = true;
  while (a_open || b_open) {
    std::array<pollfd, 3> fds{pollfd{a_open ? a : -1, POLLIN, 0},
                              pollfd{b_open ? b : -1, POLLIN, 0},
                              pollfd{wake_read.Get(), POLLIN, 0}};
    const int rc = ::poll(fds.data(), fds.size(), static_cast<int>(config.idle_timeout.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0 || fds[2].revents != 0) return;  // idle, error or Stop()
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      const int from = i == 0 ? a : b;
      const int to = i == 0 ? b : a;
      const ssize_t n = ::recv(from, buffer.data(), buffer.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n < 0) return;  // reset: end both directions
        (i == 0 ? a_open : b_open) = false;
        ::shutdown(to, SHUT_WR);
        continue;
      }
      if (!SendAll(to, std::string_view(buffer.data(), static_cast<std::size_t>(n)))) return;
    }
  }
}

void EgressProxy::Impl::Serve(Fd client) {
  SetTimeouts(client.Get(), config.idle_timeout);
  std::string buffer;
  std::size_t head_end = 0;
  if (!ReadHead(client.Get(), buffer, head_end)) {
    ++failed;
    return;
  }
  const auto head = ParseHead(std::string_view(buffer).substr(0, head_end));
  if (!head) {
    ++failed;
    Reply(client.Get(), 400, "malformed request for the egress proxy");
    return;
  }
  const bool connect = EqualsNoCase(head->method, "connect");
  std::optional<std::string> url;
  if (connect) {
    url = ConnectUrl(head->target);
  } else if (StartsWithNoCase(head->target, "http://")) {
    url = head->target;
  }
  if (!url) {
    ++failed;
    Reply(client.Get(), 400,
          "the egress proxy serves CONNECT host:port and absolute http:// requests only");
    return;
  }
  auto destination = policy.Resolve(*url);
  if (!destination.ok()) {
    const auto& error = destination.error();
    if (error.code == net::kDestinationNotAllowed || error.code == "invalid_url") {
      ++refused;
      // Host and port only: the path and query of a URL may carry tokens.
      spdlog::warn("egress proxy refused a {} request: {}", connect ? "CONNECT" : head->method,
                   error.message);
      Reply(client.Get(), 403, std::string(kRefusalMarker) + error.message);
    } else {
      ++failed;
      Reply(client.Get(), 502, "egress proxy: " + error.message);
    }
    return;
  }
  const auto& target = destination->target;
  std::string why;
  Fd server;
  if (config.upstream) {
    server = ConnectUpstream(why);
  } else {
    // Only the addresses Resolve allowed (each one checked there), never a second lookup.
    for (const auto& address : destination->addresses) {
      server = Connect(address, target.port, why);
      if (server.Valid()) break;
    }
  }
  if (!server.Valid()) {
    ++failed;
    Reply(client.Get(), 502, "egress proxy: " + why);
    return;
  }
  const std::string rest = buffer.substr(head_end);  // bytes the client sent after the head
  const std::string authority =
      (target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host) + ":" +
      std::to_string(target.port);
  if (connect) {
    if (config.upstream) {
      std::string request = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
      if (!config.upstream->authorization.empty()) {
        request += "Proxy-Authorization: " + config.upstream->authorization + "\r\n";
      }
      request += "\r\n";
      std::string answer;
      std::size_t answer_end = 0;
      if (!SendAll(server.Get(), request) || !ReadHead(server.Get(), answer, answer_end, false)) {
        ++failed;
        Reply(client.Get(), 502, "egress proxy: the upstream proxy did not answer CONNECT");
        return;
      }
      const auto status_line = answer.substr(0, answer.find("\r\n"));
      if (status_line.size() < 12 || status_line.compare(9, 3, "200") != 0) {
        ++failed;
        Reply(client.Get(), 502, "egress proxy: the upstream proxy answered " + status_line);
        return;
      }
      if (!SendAll(client.Get(), "HTTP/1.1 200 Connection established\r\n\r\n") ||
          !SendAll(client.Get(), std::string_view(answer).substr(answer_end))) {
        return;
      }
    } else if (!SendAll(client.Get(), "HTTP/1.1 200 Connection established\r\n\r\n")) {
      return;
    }
    if (!rest.empty() && !SendAll(server.Get(), rest)) return;
    ++tunnels;
    Relay(client.Get(), server.Get());
    return;
  }
  // An absolute-URI request: to the upstream in absolute form rebuilt from the checked host and
  // port (never the client's raw URL, which the upstream might read differently), with its
  // credentials; or to the origin in origin form. One request per connection: the origin is
  // asked to close after it.
  std::string_view path = std::string_view(head->target).substr(7);
  const auto slash = path.find_first_of("/?");
  path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  const std::string origin_form = (path.front() == '?' ? "/" : "") + std::string(path);
  std::string request;
  if (config.upstream) {
    request = head->method + " http://" + authority + origin_form + " " + head->version + "\r\n";
    if (!config.upstream->authorization.empty()) {
      request += "Proxy-Authorization: " + config.upstream->authorization + "\r\n";
    }
  } else {
    request = head->method + " " + origin_form + " " + head->version + "\r\n";
  }
  for (const auto& [name, value] : head->headers) {
    if (IsHopByHop(name)) continue;
    request.append(name).append(": ").append(value).append("\r\n");
  }
  request += "Connection: close\r\n\r\n";
  if (!SendAll(server.Get(), request) || (!rest.empty() && !SendAll(server.Get(), rest))) {
    ++failed;
    Reply(client.Get(), 502, "egress proxy: cannot send the request to " + authority);
    return;
  }
  ++forwarded;
  Relay(client.Get(), server.Get());
}

std::shared_ptr<EgressProxy> StartFromEnv(ConfigReader& env, const net::DestinationPolicy& policy) {
  auto config = EgressConfig::FromEnv(env);
  if (!config.enabled) {
    spdlog::warn(
        "YTDLP_EGRESS_PROXY=0: yt-dlp's own fetches (redirects, pages, media it finds) are not "
        "checked against FETCH_ALLOWLIST");
    return nullptr;
  }
  auto proxy = EgressProxy::Start(std::move(config), policy);
  if (!proxy.ok()) {
    env.AddProblem("YTDLP_EGRESS_PROXY: cannot start the egress proxy: " + proxy.error().message);
    return nullptr;
  }
  return std::shared_ptr<EgressProxy>(std::move(*proxy));
}

}  // namespace chansum::egress
