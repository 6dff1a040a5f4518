// The egress proxy against loopback servers: refusals (403, before any connect), tunnels, plain
// requests and their redirects (libcurl as the client, as yt-dlp would go through it), the
// upstream chain and the limits. Names resolve through a table: no test asks DNS anything, and
// every address is loopback, so even a broken proxy sends no packet off this machine.
#include "chansum/egress/proxy.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "chansum/testing/http_site.hpp"

namespace chansum::egress {
namespace {

using namespace std::chrono_literals;

// A raw TCP server on 127.0.0.1 that counts connections. Mode kEcho echoes every byte; mode
// kUpstream reads a request head, keeps it, answers 200 and then echoes (a fake upstream proxy).
class RawServer {
 public:
  enum Mode { kEcho, kUpstream };
  explicit RawServer(Mode mode = kEcho) : mode_(mode) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : handlers_) t.join();
    ::close(fd_);
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;
  [[nodiscard]] int Port() const { return port_; }
  [[nodiscard]] int Connections() const { return connections_.load(); }
  [[nodiscard]] std::string Head() const {
    std::lock_guard lock(mu_);
    return head_;
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      ++connections_;
      handlers_.emplace_back([this, client] { Handle(client); });
    }
  }
  void Handle(int client) {
    char buffer[4096];
    std::string head;
    bool in_head = mode_ == kUpstream;
    while (!stop_) {
      pollfd p{client, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      if (in_head) {
        head.append(buffer, static_cast<std::size_t>(n));
        const auto end = head.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        {
          std::lock_guard lock(mu_);
          head_ = head.substr(0, end + 4);
        }
        in_head = false;
        const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n" + head.substr(end + 4);
        (void)::send(client, ok.data(), ok.size(), MSG_NOSIGNAL);
        continue;
      }
      (void)::send(client, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL);
    }
    ::close(client);
  }

  Mode mode_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::string head_;
  std::thread thread_;
  std::vector<std::thread> handlers_;
};

// A client connection to the proxy.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~Client() { Close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void Send(const std::string& data) const {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // Reads until `until` is seen, EOF or the timeout. `eof` tells whether the peer closed.
  std::string Read(std::string_view until, std::chrono::milliseconds timeout = 3s,
                   bool* eof = nullptr) const {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (eof != nullptr) *eof = false;
    while (out.find(until) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        if (eof != nullptr) *eof = true;
        break;
      }
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }
  // Sends CONNECT and returns the answer's head.
  std::string Connect(const std::string& authority) const {
    Send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
    return Read("\r\n\r\n");
  }

 private:
  int fd_ = -1;
};

net::DestinationPolicy Policy(const std::string& allow) {
  auto list = net::AllowList::Parse(allow);
  EXPECT_TRUE(list.ok()) << list.error().message;
  std::map<std::string, std::vector<net::IpAddress>> table = {
      {"internal.test", {*net::ParseIp("127.0.0.1")}},
      {"allowed.test", {*net::ParseIp("127.0.0.1")}},
  };
  return net::DestinationPolicy(std::move(*list), net::StaticResolver(std::move(table), nullptr));
}

std::unique_ptr<EgressProxy> StartProxy(const std::string& allow, EgressConfig config = {}) {
  auto proxy = EgressProxy::Start(std::move(config), Policy(allow));
  EXPECT_TRUE(proxy.ok()) << proxy.error().message;
  return std::move(*proxy);
}

std::string Port(int port) { return std::to_string(port); }

TEST(EgressProxy, RefusesALoopbackTargetThatIsNotAllowListedBeforeAnyConnect) {
  RawServer target;
  auto proxy = StartProxy("");  // nothing allow-listed: only public addresses
  Client client(proxy->port());
  const auto answer = client.Connect("127.0.0.1:" + Port(target.Port()));
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 403 refused by the egress proxy: ")) << answer;
  EXPECT_NE(answer.find("loopback"), std::string::npos) << answer;
  // A name that resolves to loopback, and the address in another spelling.
  Client by_name(proxy->port());
  const auto named = by_name.Connect("internal.test:" + Port(target.Port()));
  EXPECT_NE(named.find("403 refused by the egress proxy"), std::string::npos) << named;
  EXPECT_NE(named.find("resolves to a loopback address"), std::string::npos) << named;
  Client hex(proxy->port());
  EXPECT_NE(hex.Connect("0x7f.1:" + Port(target.Port())).find("403"), std::string::npos);
  // Python sends an IPv6 literal without brackets.
  Client v6(proxy->port());
  EXPECT_NE(v6.Connect("::ffff:127.0.0.1:" + Port(target.Port())).find("403"), std::string::npos);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(target.Connections(), 0) << "a refused destination was connected to";
  EXPECT_EQ(proxy->stats().refused, 4u);
}

TEST(EgressProxy, TunnelsBytesToAnAllowListedTargetOnlyOnItsPort) {
  RawServer target;
  RawServer other;
  auto proxy = StartProxy("127.0.0.1:" + Port(target.Port()) + ",allowed.test");
  {
    Client client(proxy->port());
    const auto answer = client.Connect("127.0.0.1:" + Port(target.Port()));
    ASSERT_TRUE(answer.starts_with("HTTP/1.1 200")) << answer;
    client.Send("hello through the tunnel");
    EXPECT_EQ(client.Read("tunnel"), "hello through the tunnel");
  }
  {
    // A host name rule: the name's checked address is the one connected to.
    Client client(proxy->port());
    ASSERT_TRUE(client.Connect("allowed.test:" + Port(other.Port())).starts_with("HTTP/1.1 200"));
    client.Send("by name");
    EXPECT_EQ(client.Read("name"), "by name");
  }
  // The same address on a port the allow list does not name.
  Client refused(proxy->port());
  EXPECT_NE(refused.Connect("127.0.0.1:" + Port(other.Port())).find("403"), std::string::npos);
  EXPECT_EQ(target.Connections(), 1);
  EXPECT_EQ(other.Connections(), 1);  // by name only
  EXPECT_EQ(proxy->stats().tunnels, 2u);
}

struct Curl {
  long status = 0;
  std::string body;
  std::string error;
  bool ok = false;
};

Curl CurlGet(const std::string& url, const std::string& proxy) {
  Curl out;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROXY, proxy.c_str());
  curl_easy_setopt(c, CURLOPT_NOPROXY, "");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
        static_cast<std::string*>(user)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
  const auto rc = curl_easy_perform(c);
  out.ok = rc == CURLE_OK;
  if (!out.ok) out.error = curl_easy_strerror(rc);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
  curl_easy_cleanup(c);
  return out;
}

TEST(EgressProxy, ForwardsPlainRequestsAndRefusesARedirectIntoTheNetworkAtTheSecondHop) {
  RawServer forbidden;  // open, not allow-listed
  const std::string big(3 * 1024 * 1024 + 17, 'x');
  chansum::testing::HttpSite site([&](httplib::Server& s, chansum::testing::HttpSite&) {
    s.Get("/big", [&](const httplib::Request& req, httplib::Response& res) {
      // The proxy sends origin form and its own Connection header.
      res.set_header("X-Seen-Path", req.path);
      res.set_content(big, "application/octet-stream");
    });
    s.Get("/to-loopback", [&](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://127.0.0.1:" + Port(forbidden.Port()) + "/secret");
    });
    s.Get("/to-name", [&](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://internal.test:" + Port(forbidden.Port()) + "/secret");
    });
  });
  curl_global_init(CURL_GLOBAL_DEFAULT);
  auto proxy = StartProxy("127.0.0.1:" + Port(site.Port()));
  const auto base = "http://127.0.0.1:" + Port(site.Port());

  const auto fetched = CurlGet(base + "/big?x=1", proxy->Url());
  ASSERT_TRUE(fetched.ok) << fetched.error;
  EXPECT_EQ(fetched.status, 200);
  EXPECT_EQ(fetched.body.size(), big.size());
  EXPECT_TRUE(fetched.body == big);

  for (const char* path : {"/to-loopback", "/to-name"}) {
    const auto redirected = CurlGet(base + path, proxy->Url());
    EXPECT_EQ(redirected.status, 403) << path;
  }
  EXPECT_EQ(site.Requests(), 3);  // the first hops
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(forbidden.Connections(), 0) << "a redirect target was connected to";
  EXPECT_EQ(proxy->stats().refused, 2u);
  EXPECT_EQ(proxy->stats().forwarded, 3u);
}

TEST(EgressProxy, AnUnreachableAllowedDestinationIsA502WithTheCause) {
  int port = 0;
  {
    RawServer closed;  // bound, then closed: nothing listens there
    port = closed.Port();
  }
  auto proxy = StartProxy("127.0.0.1");
  Client client(proxy->port());
  const auto answer = client.Connect("127.0.0.1:" + Port(port));
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 502")) << answer;
  EXPECT_NE(answer.find("Connection refused"), std::string::npos) << answer;
  Client bad(proxy->port());
  bad.Send("GET /relative HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(bad.Read("\r\n\r\n").starts_with("HTTP/1.1 400")) << "origin-form is no proxy use";
}

TEST(EgressProxy, AtMostMaxTunnelsAtOnceAndTheRestIsAnswered503) {
  RawServer target;
  EgressConfig config;
  config.max_tunnels = 2;
  auto proxy = StartProxy("127.0.0.1:" + Port(target.Port()), config);
  const auto authority = "127.0.0.1:" + Port(target.Port());
  auto first = std::make_unique<Client>(proxy->port());
  ASSERT_TRUE(first->Connect(authority).starts_with("HTTP/1.1 200"));
  Client second(proxy->port());
  ASSERT_TRUE(second.Connect(authority).starts_with("HTTP/1.1 200"));
  Client third(proxy->port());
  const auto busy = third.Read("\r\n\r\n");  // answered without being asked anything
  EXPECT_TRUE(busy.starts_with("HTTP/1.1 503")) << busy;
  EXPECT_EQ(proxy->stats().busy, 1u);
  // A tunnel that ends frees its place.
  first.reset();
  std::string answer;
  for (int i = 0; i < 50 && !answer.starts_with("HTTP/1.1 200"); ++i) {
    std::this_thread::sleep_for(20ms);
    Client again(proxy->port());
    answer = again.Connect(authority);
  }
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200")) << answer;
}

TEST(EgressProxy, IdleTunnelsAndSlowRequestHeadsAreCutOff) {
  RawServer target;
  EgressConfig config;
  config.idle_timeout = 300ms;
  config.header_timeout = 300ms;
  auto proxy = StartProxy("127.0.0.1:" + Port(target.Port()), config);
  Client idle(proxy->port());
  ASSERT_TRUE(idle.Connect("127.0.0.1:" + Port(target.Port())).starts_with("HTTP/1.1 200"));
  const auto started = std::chrono::steady_clock::now();
  bool eof = false;
  (void)idle.Read("never", 5s, &eof);
  EXPECT_TRUE(eof) << "an idle tunnel stayed open";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);

  Client slow(proxy->port());
  slow.Send("CONNECT 127.0");  // and nothing more
  EXPECT_TRUE(slow.Read("\r\n\r\n", 5s).starts_with("HTTP/1.1 408"));

  Client huge(proxy->port());
  huge.Send("GET http://127.0.0.1/ HTTP/1.1\r\nX-Filler: " + std::string(20000, 'a'));
  EXPECT_TRUE(huge.Read("\r\n\r\n", 5s).starts_with("HTTP/1.1 431"));
}

TEST(EgressProxy, StopEndsOpenTunnels) {
  RawServer target;
  auto proxy = StartProxy("127.0.0.1:" + Port(target.Port()));
  Client client(proxy->port());
  ASSERT_TRUE(client.Connect("127.0.0.1:" + Port(target.Port())).starts_with("HTTP/1.1 200"));
  const auto started = std::chrono::steady_clock::now();
  proxy->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  bool eof = false;
  (void)client.Read("never", 2s, &eof);
  EXPECT_TRUE(eof);
}

TEST(EgressProxy, ChainsToTheUpstreamProxyByNameAfterTheCheck) {
  RawServer upstream(RawServer::kUpstream);
  EgressConfig config;
  auto parsed = ParseUpstream("http://alice:p%40ss@127.0.0.1:" + Port(upstream.Port()));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  config.upstream = *parsed;
  auto proxy = StartProxy("allowed.test:443", config);

  Client refused(proxy->port());
  EXPECT_NE(refused.Connect("internal.test:443").find("403"), std::string::npos);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(upstream.Connections(), 0) << "a refused destination reached the upstream";

  Client client(proxy->port());
  ASSERT_TRUE(client.Connect("allowed.test:443").starts_with("HTTP/1.1 200"));
  client.Send("tls bytes");
  EXPECT_EQ(client.Read("bytes"), "tls bytes");
  const auto head = upstream.Head();
  // The name, not the address: the upstream resolves it itself.
  EXPECT_TRUE(head.starts_with("CONNECT allowed.test:443 HTTP/1.1\r\n")) << head;
  EXPECT_NE(head.find("Proxy-Authorization: Basic YWxpY2U6cEBzcw==\r\n"), std::string::npos)
      << head;  // base64("alice:p@ss")
}

TEST(EgressConfig, ChainsOnlyToAnHttpUpstreamAndCanBeTurnedOff) {
  EXPECT_FALSE(ParseUpstream("socks5://proxy.lan:1080").ok());
  EXPECT_FALSE(ParseUpstream("https://proxy.lan:3128").ok());
  EXPECT_FALSE(ParseUpstream("http://proxy.lan:3128/path").ok());
  auto up = ParseUpstream("http://proxy.lan:3128/");
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->host, "proxy.lan");
  EXPECT_EQ(up->port, 3128);
  EXPECT_TRUE(up->authorization.empty());
  {
    ConfigReader env(std::map<std::string, std::string>{{"YTDLP_PROXY", "socks5://u:pw@p:1080"}});
    const auto c = EgressConfig::FromEnv(env);
    ASSERT_EQ(env.problems().size(), 1u);
    EXPECT_EQ(env.problems()[0].find("pw"), std::string::npos) << "credentials in the message";
  }
  {
    ConfigReader env(std::map<std::string, std::string>{{"YTDLP_PROXY", "socks5://p:1080"},
                                                        {"YTDLP_EGRESS_PROXY", "0"},
                                                        {"EGRESS_MAX_TUNNELS", "4"}});
    const auto c = EgressConfig::FromEnv(env);
    EXPECT_TRUE(env.problems().empty());
    EXPECT_FALSE(c.enabled);
    EXPECT_EQ(c.max_tunnels, 4);
  }
  ConfigReader env(std::map<std::string, std::string>{});
  const auto c = EgressConfig::FromEnv(env);
  EXPECT_TRUE(c.enabled) << "on by default";
  EXPECT_FALSE(c.upstream);
}

}  // namespace
}  // namespace chansum::egress
