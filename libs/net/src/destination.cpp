#include "chansum/net/destination.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include "chansum/common/strings.hpp"

namespace chansum::net {
namespace {

Error InvalidUrl(const std::string& message) { return Error::Permanent("invalid_url", message); }

// `host` is `domain` or a name under it.
bool IsUnder(std::string_view host, std::string_view domain) {
  return host == domain || (host.size() > domain.size() && host.ends_with(domain) &&
                            host[host.size() - domain.size() - 1] == '.');
}

}  // namespace

Result<UrlTarget> ParseUrlTarget(std::string_view url) {
  UrlTarget t;
  if (StartsWithNoCase(url, "https://")) {
    t.scheme = "https";
    t.port = 443;
  } else if (StartsWithNoCase(url, "http://")) {
    t.scheme = "http";
    t.port = 80;
  } else {
    return InvalidUrl("only http:// and https:// URLs can be fetched");
  }
  std::string_view rest = url.substr(t.scheme.size() + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  // Credentials: the host is what follows the last '@' (as Python's urllib reads it).
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (authority.empty()) return InvalidUrl("URL has no host");
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return InvalidUrl("URL has an invalid host");
    host = authority.substr(1, close - 1);
    const auto tail = authority.substr(close + 1);
    if (!tail.empty()) {
      if (tail.front() != ':') return InvalidUrl("URL has an invalid host");
      port = tail.substr(1);
      has_port = true;
    }
    auto ip = ParseIp(host);  // a zone ("%25eth0") or an IPv4 form in brackets fails here
    if (!ip || ip->v4) return InvalidUrl("URL has an invalid IPv6 address");
    t.ip_literal = ip;
    t.host = ip->ToString();
  } else {
    if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return InvalidUrl("URL has no host");
    const bool chars_ok = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
    });
    if (!chars_ok || host.front() == '.') return InvalidUrl("URL has an invalid host");
    std::string lower = AsciiLower(host);
    if (lower.back() == '.') lower.pop_back();  // "localhost." is "localhost"
    if (lower.empty()) return InvalidUrl("URL has an invalid host");
    if (auto ip = ParseIp(lower)) {
      t.ip_literal = ip;
    } else if (LooksNumeric(lower)) {
      // "2130706433", "0x7f.1", "0177.0.0.1", "127.1": an IPv4 address in another spelling.
      auto legacy = ParseLegacyIpv4(lower);
      if (!legacy) return InvalidUrl("URL host ends in a number but is no IPv4 address");
      t.ip_literal = legacy;
    }
    t.host = t.ip_literal ? t.ip_literal->ToString() : lower;
  }
  if (has_port && !port.empty()) {
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      return InvalidUrl("URL has an invalid port");
    }
    t.port = static_cast<std::uint16_t>(value);
  }
  return t;
}

Result<std::vector<IpAddress>> SystemResolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    const std::string why = ::gai_strerror(rc);
    if (rc == EAI_AGAIN || rc == EAI_SYSTEM || rc == EAI_MEMORY) {
      return Error::Transient("dns_error", "cannot resolve host '" + host + "': " + why);
    }
    return Error::Permanent("destination_unresolvable",
                            "cannot resolve host '" + host + "': " + why);
  }
  std::vector<IpAddress> out;
  for (const addrinfo* a = list; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      out.push_back(IpAddress::V4(ntohl(sin->sin_addr.s_addr)));
    } else if (a->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      std::array<std::uint8_t, 16> bytes{};
      std::memcpy(bytes.data(), &sin6->sin6_addr, 16);
      out.push_back(IpAddress::V6(bytes));
    }
  }
  ::freeaddrinfo(list);
  if (out.empty()) {
    return Error::Permanent("destination_unresolvable", "host '" + host + "' has no address");
  }
  return out;
}

Resolver StaticResolver(std::map<std::string, std::vector<IpAddress>> table, Resolver fallback) {
  return [table = std::move(table), fallback = std::move(fallback)](
             const std::string& host) -> Result<std::vector<IpAddress>> {
    if (const auto it = table.find(host); it != table.end()) return it->second;
    if (!fallback) {
      return Error::Permanent("destination_unresolvable", "cannot resolve host '" + host + "'");
    }
    return fallback(host);
  };
}

Result<std::map<std::string, std::vector<IpAddress>>> ParseStaticHosts(std::string_view text) {
  std::map<std::string, std::vector<IpAddress>> table;
  std::vector<std::string> problems;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    const auto entry = TrimWhitespace(text.substr(pos, end - pos));
    pos = end + 1;
    if (entry.empty()) continue;
    const auto eq = entry.find('=');
    const auto name =
        eq == std::string_view::npos ? std::string_view() : TrimWhitespace(entry.substr(0, eq));
    if (name.empty()) {
      problems.push_back("'" + std::string(entry) + "' is not name=address");
      continue;
    }
    std::vector<IpAddress> addresses;
    std::string_view list = entry.substr(eq + 1);
    while (true) {
      const auto bar = list.find('|');
      const auto item = TrimWhitespace(list.substr(0, bar));
      if (auto ip = ParseIp(item)) {
        addresses.push_back(*ip);
      } else {
        problems.push_back("'" + std::string(item) + "' (for " + std::string(name) +
                           ") is not an IP address");
      }
      if (bar == std::string_view::npos) break;
      list.remove_prefix(bar + 1);
    }
    table[AsciiLower(name)] = std::move(addresses);
  }
  if (!problems.empty()) {
    std::string message;
    for (const auto& p : problems) message += (message.empty() ? "" : "; ") + p;
    return Error::Permanent("invalid_static_hosts", message);
  }
  return table;
}

DestinationPolicy DestinationPolicy::FromEnv(ConfigReader& env) {
  AllowList allow;
  auto parsed = AllowList::Parse(env.String("FETCH_ALLOWLIST", ""));
  if (parsed.ok()) {
    allow = std::move(*parsed);
  } else {
    env.AddProblem("FETCH_ALLOWLIST: " + parsed.error().message);
  }
  Resolver resolver = SystemResolve;
  auto hosts = ParseStaticHosts(env.String("FETCH_STATIC_HOSTS", ""));
  if (!hosts.ok()) {
    env.AddProblem("FETCH_STATIC_HOSTS: " + hosts.error().message);
  } else if (!hosts->empty()) {
    resolver = StaticResolver(std::move(*hosts), SystemResolve);
  }
  return DestinationPolicy(std::move(allow), std::move(resolver));
}

Result<DestinationPolicy::Destination> DestinationPolicy::Resolve(std::string_view url,
                                                                  Cache* cache) const {
  auto target = ParseUrlTarget(url);
  if (!target.ok()) return std::move(target).error();
  Result<std::vector<IpAddress>> resolved = std::vector<IpAddress>{};
  if (target->ip_literal) {
    resolved = std::vector<IpAddress>{*target->ip_literal};
  } else if (IsUnder(target->host, "localhost")) {
    // RFC 6761 §6.3: localhost and its subdomains are loopback, whatever a DNS server says.
    resolved = std::vector<IpAddress>{IpAddress::V4(0x7f000001), *ParseIp("::1")};
  } else if (IsUnder(target->host, "invalid")) {
    // RFC 6761 §6.4: never resolves; answered here without asking DNS.
    return Error::Permanent("destination_unresolvable",
                            "host '" + target->host + "' is under .invalid and never resolves");
  } else if (cache != nullptr && cache->count(target->host) != 0) {
    resolved = cache->at(target->host);
  } else {
    resolved = resolver_ ? resolver_(target->host)
                         : Result<std::vector<IpAddress>>(Error::Permanent(
                               "destination_unresolvable", "no resolver configured"));
    if (cache != nullptr) cache->emplace(target->host, resolved);
  }
  if (!resolved.ok()) return resolved.error();
  if (resolved->empty()) {
    return Error::Permanent("destination_unresolvable",
                            "host '" + target->host + "' has no address");
  }
  // Every address: the fetcher may connect to any of them (and a name that resolves to one
  // public and one private address must not pass).
  for (const auto& address : *resolved) {
    if (auto allowed = Refusal(*target, address); !allowed.ok()) return allowed.error();
  }
  return Destination{std::move(*target), std::move(*resolved)};
}

Status DestinationPolicy::Refusal(const UrlTarget& target, const IpAddress& address) const {
  const auto kind = Classify(address);
  if (kind == AddressKind::kPublic || allow_.Allows(target.host, address, target.port)) {
    return OkStatus();
  }
  const std::string where = target.host + ":" + std::to_string(target.port);
  const std::string what =
      target.ip_literal ? std::string("it is a ") + ToString(kind) + " address"
                        : std::string("the host resolves to a ") + ToString(kind) + " address";
  return Error::Permanent(kDestinationNotAllowed,
                          "destination " + where + " is not allowed: " + what +
                              " (only public addresses are fetched unless FETCH_ALLOWLIST "
                              "lists them)");
}

Status DestinationPolicy::Check(std::string_view url, Cache* cache) const {
  auto destination = Resolve(url, cache);
  if (!destination.ok()) return std::move(destination).error();
  return OkStatus();
}

Status DestinationPolicy::CheckConnect(std::string_view host, const IpAddress& address,
                                       std::uint16_t port) const {
  UrlTarget target;
  target.host = std::string(host);
  target.port = port;
  if (auto ip = ParseIp(host)) target.ip_literal = ip;
  if (auto allowed = Refusal(target, address); !allowed.ok()) {
    auto error = std::move(allowed).error();
    error.message = "connection to " + address.ToString() + ":" + std::to_string(port) +
                    " refused: " + error.message;
    return error;
  }
  return OkStatus();
}

std::optional<IpAddress> FromSockaddr(const sockaddr* address, std::uint16_t* port) {
  if (address == nullptr) return std::nullopt;
  if (address->sa_family == AF_INET) {
    sockaddr_in sin{};
    std::memcpy(&sin, address, sizeof sin);
    if (port != nullptr) *port = ntohs(sin.sin_port);
    return IpAddress::V4(ntohl(sin.sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, address, sizeof sin6);
    if (port != nullptr) *port = ntohs(sin6.sin6_port);
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &sin6.sin6_addr, 16);
    return IpAddress::V6(bytes);
  }
  return std::nullopt;
}

}  // namespace chansum::net
