// Issue 18 §4.3: clients that connect and send half a request line must not starve the others.
// 500 such sockets on loopback (closed at the end of the test) while /healthz and GET /jobs are
// asked with a 1 s deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
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

int ConnectAndSendPartialLine(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  const std::string partial = "GET /healthz HTT";  // no end of line: the server keeps reading
  if (::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(SlowClientsTest, IdleConnectionsDoNotStarveOtherClients) {
  RaiseFileLimit(4 * kIdleClients);
  httplib::Server server;
  ConfigureJsonServer(server, ServerOptions{1024, false});
  AddHealthRoutes(server, [] { return json{{"ready", true}}; });
  server.Get("/jobs", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, json{{"jobs", json::array()}});
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&server] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  {
    Sockets idle;
    for (int i = 0; i < kIdleClients; ++i) {
      const int fd = ConnectAndSendPartialLine(port);
      ASSERT_GE(fd, 0) << "idle client " << i << ": " << std::strerror(errno);
      idle.fds.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all of them accepted

    for (const char* path : {"/healthz", "/jobs", "/healthz", "/jobs"}) {
      httplib::Client client("127.0.0.1", port);
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

  server.stop();
  thread.join();
}

// Past HTTP_MAX_CONNECTIONS connections wait for a free thread instead of being dropped: with a
// cap of 2 and 2 idle clients, a third is served as soon as one idle client goes away.
TEST(SlowClientsTest, ConnectionsBeyondTheCapWaitForAFreeThread) {
  httplib::Server server;
  ServerOptions options{1024, false};
  options.limits.max_connections = 2;
  ConfigureJsonServer(server, options);
  AddHealthRoutes(server, [] { return json{{"ready", true}}; });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&server] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  {
    Sockets idle;
    for (int i = 0; i < 2; ++i) idle.fds.push_back(ConnectAndSendPartialLine(port));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::thread closer([&idle] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      ::close(idle.fds[0]);
      idle.fds[0] = -1;
    });
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(std::chrono::seconds(3));
    auto r = client.Get("/healthz");
    closer.join();
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
  }
  server.stop();
  thread.join();
}

}  // namespace
}  // namespace chansum::http
