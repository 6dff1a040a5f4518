#pragma once
// Server-side request forgery defence: before anything fetches a URL a user (or a page or feed a
// user named) supplied, CheckDestination resolves its host and refuses it when ANY resolved
// address is not public (loopback, private, link-local, ...) and not allow-listed. The check
// never connects: a refusal says nothing about whether a port is open.
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/net/address.hpp"
#include "chansum/net/allow_list.hpp"

namespace chansum::net {

// The host and port an http(s) URL would connect to.
struct UrlTarget {
  std::string scheme;      // "http" or "https"
  std::string host;        // lower case, no brackets, no trailing dot; an IP literal normalised
                           // ("http://0x7f.1/" -> "127.0.0.1")
  std::uint16_t port = 0;  // explicit or the scheme's default
  std::optional<IpAddress> ip_literal;  // set when the host is an address
};
// Permanent "invalid_url" for anything that is not an absolute http(s) URL with a usable host
// (including hosts that end in a number but are no valid IPv4 address, and IPv6 zone ids).
[[nodiscard]] Result<UrlTarget> ParseUrlTarget(std::string_view url);

// Resolves a host name to its addresses. Failure: permanent "destination_unresolvable" (no such
// name) or transient "dns_error" (try again).
using Resolver = std::function<Result<std::vector<IpAddress>>(const std::string& host)>;
// getaddrinfo (AF_UNSPEC, SOCK_STREAM).
[[nodiscard]] Result<std::vector<IpAddress>> SystemResolve(const std::string& host);
// Names in `table` resolve to their addresses without DNS; others go to `fallback`.
[[nodiscard]] Resolver StaticResolver(std::map<std::string, std::vector<IpAddress>> table,
                                      Resolver fallback);
// "name=addr[|addr...],name2=addr" (FETCH_STATIC_HOSTS). Permanent "invalid_static_hosts".
[[nodiscard]] Result<std::map<std::string, std::vector<IpAddress>>> ParseStaticHosts(
    std::string_view text);

// The address (and port, when `port` is given) of an AF_INET / AF_INET6 socket address; nullopt
// for any other family.
[[nodiscard]] std::optional<IpAddress> FromSockaddr(const sockaddr* address,
                                                    std::uint16_t* port = nullptr);

// Error code of a refused destination.
inline constexpr const char* kDestinationNotAllowed = "destination_not_allowed";
// How the egress proxy (libs/egress) begins the reason phrase of its 403 for a refused
// destination; yt-dlp prints it in its error, and ClassifyYtDlpFailure (libs/media) reads it.
inline constexpr std::string_view kEgressRefusalMarker = "refused by the egress proxy: ";

// Environment:
//   FETCH_ALLOWLIST     non-public destinations that may be fetched anyway (allow_list.hpp);
//                       empty (default): only public addresses
//   FETCH_STATIC_HOSTS  tests only: "name=address,..." resolved by the check without DNS
class DestinationPolicy {
 public:
  DestinationPolicy() : DestinationPolicy(AllowList{}, SystemResolve) {}
  DestinationPolicy(AllowList allow, Resolver resolver)
      : allow_(std::move(allow)), resolver_(std::move(resolver)) {}
  [[nodiscard]] static DestinationPolicy FromEnv(ConfigReader& env);

  // OK when `url` may be fetched. Otherwise: permanent "destination_not_allowed" (a non-public
  // address, the message says which kind), "invalid_url", or the resolver's error.
  // `cache` (optional) keeps resolutions across calls, e.g. for the entries of one feed.
  using Cache = std::map<std::string, Result<std::vector<IpAddress>>>;
  [[nodiscard]] Status Check(std::string_view url, Cache* cache = nullptr) const;

  // What Check decides, with what it resolved: the URL's target and every address its host
  // resolves to (each one allowed). A fetcher pins its connection to these addresses (curl's
  // CURLOPT_RESOLVE), so the name is not resolved a second time (DNS rebinding).
  struct Destination {
    UrlTarget target;
    std::vector<IpAddress> addresses;
  };
  [[nodiscard]] Result<Destination> Resolve(std::string_view url, Cache* cache = nullptr) const;

  // The decision for one connection about to be opened: to `address`:`port` for a URL whose host
  // is `host` (lower case, no brackets). Permanent "destination_not_allowed" when the address is
  // not public and not allow-listed for that host and port. For a fetcher's connect hook, which
  // sees the address actually connected to.
  [[nodiscard]] Status CheckConnect(std::string_view host, const IpAddress& address,
                                    std::uint16_t port) const;

  [[nodiscard]] const AllowList& allow_list() const { return allow_; }

 private:
  [[nodiscard]] Status Refusal(const UrlTarget& target, const IpAddress& address) const;

  AllowList allow_;
  Resolver resolver_;
};

}  // namespace chansum::net
