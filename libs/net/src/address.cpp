#include "chansum/net/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace chansum::net {
namespace {

bool InV4(std::uint32_t a, std::uint32_t base, int prefix) {
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (a & mask) == (base & mask);
}

constexpr std::uint32_t V4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

AddressKind ClassifyV4(std::uint32_t a) {
  if (a == 0) return AddressKind::kUnspecified;
  if (a == 0xffffffffU) return AddressKind::kBroadcast;
  struct Range {
    std::uint32_t base;
    int prefix;
    AddressKind kind;
  };
  static constexpr Range kRanges[] = {
      {V4(0, 0, 0, 0), 8, AddressKind::kThisNetwork},
      {V4(10, 0, 0, 0), 8, AddressKind::kPrivate},
      {V4(100, 64, 0, 0), 10, AddressKind::kSharedCgnat},
      {V4(127, 0, 0, 0), 8, AddressKind::kLoopback},
      {V4(169, 254, 0, 0), 16, AddressKind::kLinkLocal},
      {V4(172, 16, 0, 0), 12, AddressKind::kPrivate},
      {V4(192, 0, 0, 0), 24, AddressKind::kReserved},  // IETF protocol assignments
      {V4(192, 0, 2, 0), 24, AddressKind::kDocumentation},
      {V4(192, 88, 99, 0), 24, AddressKind::kReserved},  // 6to4 relay anycast (deprecated)
      {V4(192, 168, 0, 0), 16, AddressKind::kPrivate},
      {V4(198, 18, 0, 0), 15, AddressKind::kBenchmarking},
      {V4(198, 51, 100, 0), 24, AddressKind::kDocumentation},
      {V4(203, 0, 113, 0), 24, AddressKind::kDocumentation},
      {V4(224, 0, 0, 0), 4, AddressKind::kMulticast},
      {V4(240, 0, 0, 0), 4, AddressKind::kReserved},
  };
  for (const auto& r : kRanges) {
    if (InV4(a, r.base, r.prefix)) return r.kind;
  }
  return AddressKind::kPublic;
}

std::uint32_t V4At(const std::array<std::uint8_t, 16>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | std::uint32_t{b[at + 3]};
}

bool PrefixEquals(const std::array<std::uint8_t, 16>& b,
                  std::initializer_list<std::uint8_t> prefix) {
  return std::equal(prefix.begin(), prefix.end(), b.begin());
}

bool AllZero(const std::array<std::uint8_t, 16>& b, std::size_t from, std::size_t to) {
  return std::all_of(b.begin() + static_cast<std::ptrdiff_t>(from),
                     b.begin() + static_cast<std::ptrdiff_t>(to), [](auto x) { return x == 0; });
}

bool InPrefix(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& base,
              int prefix) {
  for (int i = 0; i < 16 && prefix > 0; ++i, prefix -= 8) {
    const int bits = std::min(prefix, 8);
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[static_cast<std::size_t>(i)] & mask) != (base[static_cast<std::size_t>(i)] & mask)) {
      return false;
    }
  }
  return true;
}

AddressKind ClassifyV6(const std::array<std::uint8_t, 16>& b) {
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (IPv4-compatible, deprecated): the IPv4 address.
  if (AllZero(b, 0, 10) && b[10] == 0xff && b[11] == 0xff) return ClassifyV4(V4At(b, 12));
  if (AllZero(b, 0, 12)) {
    const std::uint32_t low = V4At(b, 12);
    if (low == 0) return AddressKind::kUnspecified;
    if (low == 1) return AddressKind::kLoopback;
    const auto kind = ClassifyV4(low);
    return kind == AddressKind::kPublic ? AddressKind::kReserved : kind;
  }
  // 64:ff9b::/96 NAT64 (RFC 6052): a NAT64 gateway forwards it to the embedded IPv4 address.
  if (PrefixEquals(b, {0x00, 0x64, 0xff, 0x9b}) && AllZero(b, 4, 12)) {
    return ClassifyV4(V4At(b, 12));
  }
  // 2002::/16 6to4: the embedded IPv4 address is the relay's target.
  if (PrefixEquals(b, {0x20, 0x02})) return ClassifyV4(V4At(b, 2));
  if (b[0] == 0xff) return AddressKind::kMulticast;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressKind::kLinkLocal;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressKind::kSiteLocal;
  if ((b[0] & 0xfe) == 0xfc) return AddressKind::kUniqueLocal;
  if (PrefixEquals(b, {0x20, 0x01, 0x0d, 0xb8})) return AddressKind::kDocumentation;
  if (PrefixEquals(b, {0x20, 0x01, 0x00, 0x02, 0x00, 0x00})) return AddressKind::kBenchmarking;
  // 2001::/23 IETF protocol assignments (Teredo 2001::/32, ORCHID, ...).
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02) return AddressKind::kReserved;
  // Global unicast is 2000::/3; everything else (64:ff9b:1::/48, 100::/64, ...) is not public.
  if ((b[0] & 0xe0) != 0x20) return AddressKind::kReserved;
  return AddressKind::kPublic;
}

// One part of a legacy IPv4 form: decimal, octal (leading 0) or hex (0x). nullopt if malformed.
std::optional<std::uint64_t> ParsePart(std::string_view part) {
  if (part.empty()) return std::nullopt;
  int base = 10;
  if (part.size() > 1 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
    base = 16;
    part.remove_prefix(2);
    if (part.empty()) return std::uint64_t{0};  // "0x" is 0 for inet_aton and WHATWG
  } else if (part.size() > 1 && part[0] == '0') {
    base = 8;
    part.remove_prefix(1);
  }
  if (part.size() > 16) return std::nullopt;
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value, base);
  if (ec != std::errc() || ptr != part.data() + part.size()) return std::nullopt;
  return value;
}

}  // namespace

IpAddress IpAddress::V4(std::uint32_t host_order) {
  IpAddress a;
  a.v4 = true;
  a.bytes[10] = 0xff;
  a.bytes[11] = 0xff;
  a.bytes[12] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes[13] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes[14] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes[15] = static_cast<std::uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::V6(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress a;
  a.bytes = bytes;
  return a;
}

std::uint32_t IpAddress::V4Value() const { return V4At(bytes, 12); }

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (v4) {
    const std::uint32_t n = htonl(V4Value());
    ::inet_ntop(AF_INET, &n, buf, sizeof buf);
  } else {
    ::inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

std::optional<IpAddress> ParseIp(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) return IpAddress::V4(ntohl(v4.s_addr));
  std::array<std::uint8_t, 16> v6{};
  if (::inet_pton(AF_INET6, s.c_str(), v6.data()) == 1) return IpAddress::V6(v6);
  return std::nullopt;
}

std::optional<IpAddress> ParseLegacyIpv4(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.back() == '.') text.remove_suffix(1);  // "127.0.0.1." is the same address
  std::uint64_t parts[4] = {};
  std::size_t count = 0;
  while (true) {
    if (count == 4) return std::nullopt;
    const auto dot = text.find('.');
    auto part = ParsePart(text.substr(0, dot));
    if (!part) return std::nullopt;
    parts[count++] = *part;
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  // Every part but the last is one byte; the last fills the bytes that remain.
  std::uint64_t value = 0;
  for (std::size_t i = 0; i + 1 < count; ++i) {
    if (parts[i] > 0xff) return std::nullopt;
    value |= parts[i] << (8 * (3 - i));
  }
  const std::uint64_t last_limit = std::uint64_t{1} << (8 * (5 - count));
  if (parts[count - 1] >= last_limit) return std::nullopt;
  value |= parts[count - 1];
  return IpAddress::V4(static_cast<std::uint32_t>(value));
}

bool LooksNumeric(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  const auto dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  if (std::all_of(last.begin(), last.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return true;
  }
  return last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
         std::all_of(last.begin() + 2, last.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

const char* ToString(AddressKind kind) noexcept {
  switch (kind) {
    case AddressKind::kPublic:
      return "public";
    case AddressKind::kUnspecified:
      return "unspecified";
    case AddressKind::kThisNetwork:
      return "this-network";
    case AddressKind::kLoopback:
      return "loopback";
    case AddressKind::kPrivate:
      return "private";
    case AddressKind::kSharedCgnat:
      return "shared (carrier-grade NAT)";
    case AddressKind::kLinkLocal:
      return "link-local";
    case AddressKind::kUniqueLocal:
      return "unique-local";
    case AddressKind::kSiteLocal:
      return "site-local";
    case AddressKind::kMulticast:
      return "multicast";
    case AddressKind::kBroadcast:
      return "broadcast";
    case AddressKind::kDocumentation:
      return "documentation";
    case AddressKind::kBenchmarking:
      return "benchmarking";
    case AddressKind::kReserved:
      return "reserved";
  }
  return "unknown";
}

AddressKind Classify(const IpAddress& address) {
  if (address.v4) return ClassifyV4(address.V4Value());
  return ClassifyV6(address.bytes);
}

bool Network::Contains(const IpAddress& address) const {
  return InPrefix(address.bytes, base.bytes, prefix);
}

std::string Network::ToString() const {
  const int bits = base.v4 ? prefix - 96 : prefix;
  return base.ToString() + "/" + std::to_string(bits);
}

std::optional<Network> ParseNetwork(std::string_view text, std::string* error) {
  auto fail = [&](std::string message) -> std::optional<Network> {
    if (error != nullptr) *error = std::move(message);
    return std::nullopt;
  };
  const auto slash = text.find('/');
  const auto address = ParseIp(text.substr(0, slash));
  if (!address) return fail("'" + std::string(text.substr(0, slash)) + "' is not an IP address");
  const int max_bits = address->v4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || bits < 0 ||
        bits > max_bits) {
      return fail("prefix length '" + std::string(digits) + "' is not a number from 0 to " +
                  std::to_string(max_bits));
    }
  }
  Network n;
  n.base = *address;
  n.prefix = address->v4 ? bits + 96 : bits;
  // Clear the host bits and compare: set host bits are refused.
  IpAddress masked = *address;
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(n.prefix - 8 * i, 0, 8);
    const auto mask = static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
    masked.bytes[static_cast<std::size_t>(i)] &= mask;
  }
  if (masked.bytes != address->bytes) {
    return fail("'" + std::string(text) + "' has host bits set (did you mean " +
                Network{masked, n.prefix}.ToString() + "?)");
  }
  return n;
}

}  // namespace chansum::net
