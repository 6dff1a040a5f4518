#pragma once
// IP addresses (IPv4 and IPv6 in one type), their parsers and a classifier that tells public
// addresses from loopback, private, link-local and every other special-purpose range (IANA's
// IPv4/IPv6 special-purpose address registries). Used to refuse outbound fetches to the
// services' own network (destination.hpp).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chansum::net {

struct IpAddress {
  // Network byte order. An IPv4 address is kept as its IPv4-mapped IPv6 form ::ffff:a.b.c.d with
  // `v4` set, so one network of the allow list can match both spellings.
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;

  [[nodiscard]] static IpAddress V4(std::uint32_t host_order);
  [[nodiscard]] static IpAddress V6(const std::array<std::uint8_t, 16>& bytes);
  // The IPv4 address in host order (v4 only).
  [[nodiscard]] std::uint32_t V4Value() const;
  // "127.0.0.1", "fd00::1".
  [[nodiscard]] std::string ToString() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// A literal address as inet_pton reads it: dotted quad ("10.0.0.1") or IPv6 ("fd00::1", no
// brackets, no zone). nullopt otherwise.
[[nodiscard]] std::optional<IpAddress> ParseIp(std::string_view text);

// The other IPv4 spellings that inet_aton, curl, Python and browsers accept as an address and a
// naive check reads as a host name: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x),
// the last part filling the remaining bytes: "2130706433", "0x7f.1", "0177.0.0.1", "127.1".
// nullopt when `text` is not such a form (or a part overflows).
[[nodiscard]] std::optional<IpAddress> ParseLegacyIpv4(std::string_view text);

// True when the last dot-separated label of `host` is all digits or a 0x hex number: such a host
// is an IPv4 attempt, never a DNS name (WHATWG URL "ends in a number").
[[nodiscard]] bool LooksNumeric(std::string_view host);

enum class AddressKind {
  kPublic,         // globally reachable unicast
  kUnspecified,    // 0.0.0.0, ::
  kThisNetwork,    // 0.0.0.0/8
  kLoopback,       // 127.0.0.0/8, ::1
  kPrivate,        // 10/8, 172.16/12, 192.168/16
  kSharedCgnat,    // 100.64.0.0/10 (carrier-grade NAT)
  kLinkLocal,      // 169.254/16 (cloud metadata at 169.254.169.254), fe80::/10
  kUniqueLocal,    // fc00::/7
  kSiteLocal,      // fec0::/10 (deprecated, still routed by some stacks)
  kMulticast,      // 224/4, ff00::/8
  kBroadcast,      // 255.255.255.255
  kDocumentation,  // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32
  kBenchmarking,   // 198.18/15, 2001:2::/48
  kReserved,       // 240/4, 192.0.0/24, 192.88.99/24, IPv6 outside 2000::/3, 2001::/23
                   // (Teredo, ORCHID), 64:ff9b:1::/48, 100::/64, ...
};
[[nodiscard]] const char* ToString(AddressKind kind) noexcept;  // "loopback", "private", ...

// The kind of `address`. IPv6 forms that carry an IPv4 address (::ffff:a.b.c.d, ::a.b.c.d,
// 64:ff9b::a.b.c.d NAT64, 2002:aabb:ccdd::/48 6to4) take the kind of that IPv4 address, so
// ::ffff:127.0.0.1 is kLoopback and 64:ff9b::a9fe:a9fe (169.254.169.254) kLinkLocal.
[[nodiscard]] AddressKind Classify(const IpAddress& address);
[[nodiscard]] inline bool IsPublic(const IpAddress& address) {
  return Classify(address) == AddressKind::kPublic;
}

// An address block ("10.0.0.0/8", "fd00::/8", or one address).
struct Network {
  IpAddress base;  // host bits cleared
  int prefix = 0;  // over the 128-bit form: an IPv4 /8 is stored as /104

  [[nodiscard]] bool Contains(const IpAddress& address) const;
  [[nodiscard]] std::string ToString() const;
};
// "10.0.0.0/8", "127.0.0.1" (a /32), "fd00::/8", "::1" (a /128). Host bits set below the prefix
// are an error ("10.0.0.1/8"): they usually mean a typo. The error text says what is wrong.
[[nodiscard]] std::optional<Network> ParseNetwork(std::string_view text, std::string* error);

}  // namespace chansum::net
