// Issue 18 §4.3: clients that connect and send half a request line, or trickle a request in a
// byte at a time, must not starve the others. 500 such sockets on loopback (closed at the end of
// the test) while /healthz and GET /jobs are asked with a 1 s deadline; one address is capped;
// a trickled request is cut off at its deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "chansum/http/json_api.hpp"

namespace chansum::http {
namespace {

using nlohmann::json;

constexpr int kIdleClients = 500;

// The file descriptors of the idle clients, closed on destruction.
struct Sockets {
  std::vector<int> fds;
  ~Sockets() {
    for (int fd : fds) ::close(fd);
  }
};

// Enough descriptors for the idle clients and the server's side of them.
void RaiseFileLimit(rlim_t wanted) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
  ASSERT_GE(limit.rlim_cur, wanted) << "the hard limit of open files is too low for this test";
}

// A TCP connection to 127.0.0.1:port from `source` (any 127.x.y.z address is this machine's
// loopback, so a test can be several clients). -1 on failure.
int ConnectFrom(const char* source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool Send(int fd, const std::string& data) {
  return ::send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

int ConnectAndSendPartialLine(int port, const char* source = "127.0.0.1") {
  const int fd = ConnectFrom(source, port);
  if (fd < 0) return -1;
  // No end of line: the server keeps reading.
  if (!Send(fd, "GET /healthz HTT")) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What the server sent on `fd` until it closed the connection or `timeout` passed.
std::string ReadAll(int fd, std::chrono::milliseconds timeout, bool* closed) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  *closed = false;
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    *closed = n == 0 || errno == ECONNRESET;
    return out;
  }
}

// A server with the health routes and GET /jobs on a loopback port, serving on its own thread.
struct RunningServer {
  Server server;
  std::thread thread;
  int port = 0;

  explicit RunningServer(const ServerOptions& options) {
    ConfigureJsonServer(server, options);
    AddHealthRoutes(server, [] { return json{{"ready", true}}; });
    server.Get("/jobs", [](const httplib::Request&, httplib::Response& res) {
      SendJson(res, 200, json{{"jobs", json::array()}});
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~RunningServer() {
    server.stop();
    thread.join();
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;
};

// 500 idle clients, half a request line each, from another address than the one that asks: with
// no cap per client every one of them holds a thread, and the asking client is still served.
TEST(SlowClientsTest, IdleConnectionsDoNotStarveOtherClients) {
  RaiseFileLimit(4 * kIdleClients);
  ServerOptions options{1024, false};
  options.limits.max_connections_per_client = 0;
  RunningServer running(options);
  ASSERT_GT(running.port, 0);
  {
    Sockets idle;
    for (int i = 0; i < kIdleClients; ++i) {
      const int fd = ConnectAndSendPartialLine(running.port, "127.0.0.2");
      ASSERT_GE(fd, 0) << "idle client " << i << ": " << std::strerror(errno);
      idle.fds.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all of them accepted
    EXPECT_EQ(running.server.OpenConnectionsFrom("127.0.0.2"), kIdleClients);

    for (const char* path : {"/healthz", "/jobs", "/healthz", "/jobs"}) {
      httplib::Client client("127.0.0.1", running.port);
      client.set_connection_timeout(std::chrono::seconds(1));
      client.set_read_timeout(std::chrono::seconds(1));
      const auto started = std::chrono::steady_clock::now();
      auto r = client.Get(path);
      const auto took = std::chrono::steady_clock::now() - started;
      ASSERT_TRUE(r) << path << " got no answer within 1 s while " << kIdleClients
                     << " clients hold half a request line: " << httplib::to_string(r.error());
      EXPECT_EQ(r->status, 200) << path;
      EXPECT_LT(took, std::chrono::seconds(1)) << path;
    }
  }  // the idle clients close: their threads end at once
}

// HTTP_MAX_CONNECTIONS_PER_CLIENT: one address opening 500 idle connections gets the cap, the
// rest are answered 503 at once (nothing of theirs read), and another address is served.
TEST(SlowClientsTest, OneAddressGetsAtMostItsShareOfConnections) {
  RaiseFileLimit(4 * kIdleClients);
  ServerOptions options{1024, false};
  options.limits.max_connections_per_client = 20;
  RunningServer running(options);
  ASSERT_GT(running.port, 0);
  Sockets idle;
  for (int i = 0; i < kIdleClients; ++i) {
    const int fd = ConnectAndSendPartialLine(running.port, "127.0.0.3");
    ASSERT_GE(fd, 0) << "idle client " << i << ": " << std::strerror(errno);
    idle.fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(running.server.OpenConnectionsFrom("127.0.0.3"), 20u);

  // The last one was refused: a 503 with the JSON error, then closed.
  bool closed = false;
  const auto answer = ReadAll(idle.fds.back(), std::chrono::milliseconds(2000), &closed);
  EXPECT_TRUE(closed);
  EXPECT_NE(answer.find("HTTP/1.1 503"), std::string::npos) << answer;
  EXPECT_NE(answer.find("too_many_connections"), std::string::npos) << answer;

  httplib::Client other("127.0.0.1", running.port);
  other.set_read_timeout(std::chrono::seconds(1));
  auto r = other.Get("/healthz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
}

// A client is its address's network: IPv4 at HTTP_CLIENT_PREFIX_V4, IPv6 at HTTP_CLIENT_PREFIX_V6,
// IPv4-mapped IPv6 as IPv4.
TEST(SlowClientsTest, ClientKeyIsTheAddressesNetwork) {
  EXPECT_EQ(ClientKey("127.0.0.2", 32, 64), "127.0.0.2/32");
  EXPECT_EQ(ClientKey("127.0.0.2", 24, 64), "127.0.0.0/24");
  EXPECT_EQ(ClientKey("10.1.2.3", 20, 64), "10.1.0.0/20");
  EXPECT_EQ(ClientKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 32, 64), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientKey("2001:db8:1:2::1", 32, 64), ClientKey("2001:db8:1:2:ffff::9", 32, 64));
  EXPECT_NE(ClientKey("2001:db8:1:2::1", 32, 64), ClientKey("2001:db8:1:3::1", 32, 64));
  EXPECT_EQ(ClientKey("2001:db8:1:2::1", 32, 128), "2001:db8:1:2::1/128");
  EXPECT_EQ(ClientKey("::ffff:10.1.2.3", 24, 64), "10.1.2.0/24");
  EXPECT_EQ(ClientKey("::ffff:10.1.2.3", 32, 64), ClientKey("10.1.2.3", 32, 64));
  EXPECT_EQ(ClientKey("not an address", 32, 64), "not an address");
}

// HTTP_CLIENT_PREFIX_V4=24: 127.0.0.2 and 127.0.0.3 are one client and share one cap, while
// 127.0.1.1 (another /24) is served. With the default /32 each would have its own cap.
TEST(SlowClientsTest, APrefixCountsTheAddressesOfOneNetworkTogether) {
  RaiseFileLimit(512);
  ServerOptions options{1024, false};
  options.limits.max_connections_per_client = 20;
  options.limits.client_prefix_v4 = 24;
  RunningServer running(options);
  ASSERT_GT(running.port, 0);
  Sockets idle;
  for (int i = 0; i < 30; ++i) {
    const int fd = ConnectAndSendPartialLine(running.port, i % 2 == 0 ? "127.0.0.2" : "127.0.0.3");
    ASSERT_GE(fd, 0) << "idle client " << i << ": " << std::strerror(errno);
    idle.fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(running.server.OpenConnectionsFrom("127.0.0.2"), 20u);
  EXPECT_EQ(running.server.OpenConnectionsFrom("127.0.0.3"), 20u) << "the same client";
  // The 10 over the cap are refused (503, closed), whichever they are (a slow ASan build may take
  // them in another order than they connected).
  std::vector<std::string> answers(idle.fds.size());
  int refused = 0;
  bool closed = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (refused < 10 && std::chrono::steady_clock::now() < until) {
    for (std::size_t i = 0; i < idle.fds.size(); ++i) {
      if (answers[i].find("HTTP/1.1 503") != std::string::npos) continue;
      answers[i] += ReadAll(idle.fds[i], std::chrono::milliseconds(10), &closed);
      if (answers[i].find("HTTP/1.1 503") != std::string::npos) ++refused;
    }
  }
  EXPECT_EQ(refused, 10) << "of 30 connections from one /24 with a cap of 20";

  const int other = ConnectFrom("127.0.1.1", running.port);
  ASSERT_GE(other, 0);
  idle.fds.push_back(other);
  ASSERT_TRUE(Send(other, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const auto served = ReadAll(other, std::chrono::milliseconds(2000), &closed);
  EXPECT_NE(served.find("HTTP/1.1 200"), std::string::npos) << served;
}

// HTTP_REQUEST_TIMEOUT: a client that sends a byte of its request head every 200 ms never trips
// the 5 s read timeout, but is cut off once the request is 1 s old.
TEST(SlowClientsTest, ARequestTrickledInIsCutOffAtItsDeadline) {
  ServerOptions options{1024, false};
  options.limits.request_timeout = std::chrono::seconds(1);
  RunningServer running(options);
  ASSERT_GT(running.port, 0);
  const int fd = ConnectFrom("127.0.0.1", running.port);
  ASSERT_GE(fd, 0);
  Sockets hold{{fd}};
  ASSERT_TRUE(Send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  const auto started = std::chrono::steady_clock::now();
  bool cut = false;
  for (int i = 0; i < 40 && !cut; ++i) {  // 8 s of trickling at most
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cut = !Send(fd, "X");
    if (!cut) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) {  // the server answered (400) or closed
        bool closed = false;
        ReadAll(fd, std::chrono::milliseconds(500), &closed);
        cut = closed;
      }
    }
  }
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(cut) << "a trickling client was still connected after 8 s";
  EXPECT_LT(took, std::chrono::seconds(4));
}

// The deadline is per request, from its first byte: a keep-alive connection that idles between
// requests longer than the deadline (but within the keep-alive timeout) is still served.
TEST(SlowClientsTest, TheDeadlineCountsFromEachRequestsFirstByte) {
  ServerOptions options{1024, false};
  options.limits.request_timeout = std::chrono::seconds(1);
  options.limits.keep_alive_timeout = std::chrono::seconds(5);
  RunningServer running(options);
  ASSERT_GT(running.port, 0);
  httplib::Client client("127.0.0.1", running.port);
  client.set_keep_alive(true);
  client.set_read_timeout(std::chrono::seconds(2));
  auto first = client.Get("/healthz");
  ASSERT_TRUE(first) << httplib::to_string(first.error());
  EXPECT_EQ(first->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto second = client.Get("/jobs");
  ASSERT_TRUE(second) << httplib::to_string(second.error());
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(running.server.OpenConnectionsFrom("127.0.0.1"), 1u) << "one kept-alive connection";
}

// Past HTTP_MAX_CONNECTIONS connections wait for a free thread instead of being dropped: with a
// cap of 2 and 2 idle clients, a third is served as soon as one idle client goes away.
TEST(SlowClientsTest, ConnectionsBeyondTheCapWaitForAFreeThread) {
  ServerOptions options{1024, false};
  options.limits.max_connections = 2;
  RunningServer running(options);
  ASSERT_GT(running.port, 0);
  {
    Sockets idle;
    for (int i = 0; i < 2; ++i) idle.fds.push_back(ConnectAndSendPartialLine(running.port));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::thread closer([&idle] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      ::close(idle.fds[0]);
      idle.fds[0] = -1;
    });
    httplib::Client client("127.0.0.1", running.port);
    client.set_read_timeout(std::chrono::seconds(3));
    auto r = client.Get("/healthz");
    closer.join();
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
  }
}

}  // namespace
}  // namespace chansum::http
