#pragma once
// The egress proxy: a small HTTP proxy on 127.0.0.1 (an ephemeral port) that yt-dlp is given with
// `--proxy`, so every fetch yt-dlp makes — each redirect hop is a new request through the proxy —
// is checked by the same DestinationPolicy as the direct media download (libs/net), after the
// proxy's own resolution, and connected to the checked address (the name is never resolved a
// second time: no DNS rebinding).
//
// It serves `CONNECT host:port` (https tunnels) and absolute-URI requests (`GET http://...`),
// forwarded and streamed with one fixed buffer per direction. A refused destination gets
// `403 refused by the egress proxy: <reason>` (the reason phrase is what yt-dlp prints, see
// kRefusalMarker); a destination that cannot be reached gets a 502 with the cause.
//
// Bounded: a deadline for the request head (and its size), a connect timeout, an idle timeout on
// every tunnel, at most `max_tunnels` connections at once (more are answered 503 at once). It
// listens on loopback only and serves only loopback peers.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/net/destination.hpp"

namespace chansum::egress {

// The start of the reason phrase of every refusal; yt-dlp's error carries it
// ("HTTP Error 403: refused by the egress proxy: ..." or "Tunnel connection failed: 403 refused
// by the egress proxy: ...").
inline constexpr std::string_view kRefusalMarker = net::kEgressRefusalMarker;

// An upstream HTTP proxy the egress proxy chains to (YTDLP_PROXY): after the destination is
// checked, CONNECT and absolute-URI requests go to it with the destination's NAME — the upstream
// resolves it itself (it may be in another network).
struct Upstream {
  std::string host;
  std::uint16_t port = 0;
  std::string authorization;  // "Basic <base64>" from the URL's user:password, or empty
};
// "http://[user:pass@]host[:port][/]". Permanent "invalid_proxy" otherwise (https and socks
// upstreams are not supported; the message never quotes credentials).
[[nodiscard]] Result<Upstream> ParseUpstream(std::string_view url);

// Environment:
//   YTDLP_EGRESS_PROXY          1 (default): yt-dlp's fetches go through the egress proxy
//   EGRESS_CONNECT_TIMEOUT      connecting to a destination or the upstream (default 10s)
//   EGRESS_IDLE_TIMEOUT         a tunnel with no byte either way for this long is closed (60s)
//   EGRESS_HEADER_TIMEOUT       the request head must arrive within this (default 10s)
//   EGRESS_MAX_TUNNELS          connections served at once; more are answered 503 (default 32)
//   YTDLP_PROXY                 when set (http:// only), the upstream the proxy chains to
struct EgressConfig {
  bool enabled = true;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  int max_tunnels = 32;
  std::size_t max_head_bytes = 16 * 1024;  // request (and upstream answer) head limit
  std::optional<Upstream> upstream;

  [[nodiscard]] static EgressConfig FromEnv(ConfigReader& env);
};

class EgressProxy {
 public:
  // Binds 127.0.0.1:0 and starts the accept thread and `max_tunnels` workers.
  [[nodiscard]] static Result<std::unique_ptr<EgressProxy>> Start(EgressConfig config,
                                                                  net::DestinationPolicy policy);
  ~EgressProxy();  // Stop()
  EgressProxy(const EgressProxy&) = delete;
  EgressProxy& operator=(const EgressProxy&) = delete;

  // Closes the listener and every tunnel, joins the threads. Idempotent.
  void Stop();

  [[nodiscard]] std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port>": yt-dlp's --proxy.
  [[nodiscard]] std::string Url() const;

  struct Stats {
    std::uint64_t accepted = 0;
    std::uint64_t refused = 0;    // 403: destination not allowed
    std::uint64_t busy = 0;       // 503: max_tunnels reached
    std::uint64_t failed = 0;     // 4xx/5xx other than the above (bad request, unreachable, ...)
    std::uint64_t tunnels = 0;    // CONNECT tunnels established
    std::uint64_t forwarded = 0;  // absolute-URI requests forwarded
  };
  [[nodiscard]] Stats stats() const;

  struct Impl;

 private:
  explicit EgressProxy(std::unique_ptr<Impl> impl, std::uint16_t port);
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

// For a stage's handler setup: reads EgressConfig and, when YTDLP_EGRESS_PROXY is on, starts the
// proxy with `policy` (a failure to start is a problem in `env`: the service does not run
// unchecked). nullptr when it is off. The caller keeps it for the process's life (the handler
// factory holds it; it stops when the runner lets the factory go at shutdown).
[[nodiscard]] std::shared_ptr<EgressProxy> StartFromEnv(ConfigReader& env,
                                                        const net::DestinationPolicy& policy);

}  // namespace chansum::egress
