#include "chansum/net/address.hpp"

#include <gtest/gtest.h>

namespace chansum::net {
namespace {

AddressKind KindOf(const char* text) {
  auto ip = ParseIp(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip ? Classify(*ip) : AddressKind::kPublic;
}

TEST(AddressTest, ClassifiesIpv4SpecialRanges) {
  const std::pair<const char*, AddressKind> cases[] = {
      {"0.0.0.0", AddressKind::kUnspecified},       {"0.1.2.3", AddressKind::kThisNetwork},
      {"127.0.0.1", AddressKind::kLoopback},        {"127.255.255.254", AddressKind::kLoopback},
      {"10.0.0.1", AddressKind::kPrivate},          {"172.16.0.1", AddressKind::kPrivate},
      {"172.31.255.255", AddressKind::kPrivate},    {"192.168.1.1", AddressKind::kPrivate},
      {"100.64.0.1", AddressKind::kSharedCgnat},    {"100.127.255.255", AddressKind::kSharedCgnat},
      {"169.254.169.254", AddressKind::kLinkLocal}, {"224.0.0.1", AddressKind::kMulticast},
      {"239.255.255.250", AddressKind::kMulticast}, {"255.255.255.255", AddressKind::kBroadcast},
      {"240.0.0.1", AddressKind::kReserved},        {"192.0.0.8", AddressKind::kReserved},
      {"192.0.2.1", AddressKind::kDocumentation},   {"198.18.0.1", AddressKind::kBenchmarking},
  };
  for (const auto& [text, kind] : cases) EXPECT_EQ(KindOf(text), kind) << text;
}

TEST(AddressTest, RangeEdgesArePublic) {
  for (const char* text : {"8.8.8.8", "1.1.1.1", "9.255.255.255", "11.0.0.0", "172.15.255.255",
                           "172.32.0.0", "100.63.255.255", "100.128.0.0", "169.253.255.255",
                           "192.167.255.255", "223.255.255.255", "126.255.255.255"}) {
    EXPECT_EQ(KindOf(text), AddressKind::kPublic) << text;
  }
}

TEST(AddressTest, ClassifiesIpv6SpecialRanges) {
  const std::pair<const char*, AddressKind> cases[] = {
      {"::", AddressKind::kUnspecified},
      {"::1", AddressKind::kLoopback},
      {"fe80::1", AddressKind::kLinkLocal},
      {"febf::1", AddressKind::kLinkLocal},
      {"fec0::1", AddressKind::kSiteLocal},
      {"fc00::1", AddressKind::kUniqueLocal},
      {"fd00::1", AddressKind::kUniqueLocal},
      {"ff02::1", AddressKind::kMulticast},
      {"2001:db8::1", AddressKind::kDocumentation},
      {"2001::1", AddressKind::kReserved},  // Teredo
      {"2001:2::1", AddressKind::kBenchmarking},
      {"64:ff9b:1::1", AddressKind::kReserved},
      {"100::1", AddressKind::kReserved},
      {"4000::1", AddressKind::kReserved},  // outside 2000::/3
  };
  for (const auto& [text, kind] : cases) EXPECT_EQ(KindOf(text), kind) << text;
  for (const char* text : {"2606:4700::1111", "2a00:1450:4001::200e", "2001:4860::8888"}) {
    EXPECT_EQ(KindOf(text), AddressKind::kPublic) << text;
  }
}

TEST(AddressTest, Ipv6FormsOfIpv4AddressesTakeTheIpv4Kind) {
  EXPECT_EQ(KindOf("::ffff:127.0.0.1"), AddressKind::kLoopback);
  EXPECT_EQ(KindOf("::ffff:7f00:1"), AddressKind::kLoopback);
  EXPECT_EQ(KindOf("::ffff:169.254.169.254"), AddressKind::kLinkLocal);
  EXPECT_EQ(KindOf("::ffff:10.0.0.1"), AddressKind::kPrivate);
  EXPECT_EQ(KindOf("::10.0.0.1"), AddressKind::kPrivate);            // IPv4-compatible
  EXPECT_EQ(KindOf("64:ff9b::a9fe:a9fe"), AddressKind::kLinkLocal);  // NAT64 of metadata
  EXPECT_EQ(KindOf("64:ff9b::127.0.0.1"), AddressKind::kLoopback);   // NAT64
  EXPECT_EQ(KindOf("2002:c0a8:0101::1"), AddressKind::kPrivate);     // 6to4 of 192.168.1.1
  EXPECT_EQ(KindOf("2002:7f00:0001::1"), AddressKind::kLoopback);    // 6to4 of 127.0.0.1
  EXPECT_EQ(KindOf("::ffff:8.8.8.8"), AddressKind::kPublic);
  EXPECT_EQ(KindOf("64:ff9b::8.8.8.8"), AddressKind::kPublic);
  EXPECT_EQ(KindOf("::8.8.8.8"), AddressKind::kReserved);  // deprecated, never public
}

TEST(AddressTest, LegacyIpv4SpellingsAreAddresses) {
  const std::pair<const char*, const char*> cases[] = {
      {"2130706433", "127.0.0.1"},
      {"0x7f.1", "127.0.0.1"},
      {"0177.0.0.1", "127.0.0.1"},
      {"127.1", "127.0.0.1"},
      {"0x7f000001", "127.0.0.1"},
      {"017700000001", "127.0.0.1"},
      {"169.254.43518", "169.254.169.254"},
      {"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
      {"10.1", "10.0.0.1"},
      {"0", "0.0.0.0"},
      {"127.0.0.1.", "127.0.0.1"},
  };
  for (const auto& [text, expected] : cases) {
    auto ip = ParseLegacyIpv4(text);
    ASSERT_TRUE(ip.has_value()) << text;
    EXPECT_EQ(ip->ToString(), expected) << text;
  }
  for (const char* text :
       {"256.0.0.1", "4294967296", "1.2.3.4.5", "08", "1..2", "a.b", "127.0.0.1x", ""}) {
    EXPECT_FALSE(ParseLegacyIpv4(text).has_value()) << text;
  }
  EXPECT_TRUE(LooksNumeric("2130706433"));
  EXPECT_TRUE(LooksNumeric("foo.0x7f"));
  EXPECT_TRUE(LooksNumeric("1.2.3.999"));
  EXPECT_FALSE(LooksNumeric("example.com"));
  EXPECT_FALSE(LooksNumeric("0xfoo"));
}

TEST(AddressTest, ParsesNetworks) {
  std::string error;
  auto n = ParseNetwork("10.0.0.0/8", &error);
  ASSERT_TRUE(n.has_value()) << error;
  EXPECT_TRUE(n->Contains(*ParseIp("10.255.1.2")));
  EXPECT_TRUE(n->Contains(*ParseIp("::ffff:10.1.1.1")));
  EXPECT_FALSE(n->Contains(*ParseIp("11.0.0.1")));
  EXPECT_EQ(n->ToString(), "10.0.0.0/8");
  auto one = ParseNetwork("127.0.0.1", &error);
  ASSERT_TRUE(one.has_value());
  EXPECT_TRUE(one->Contains(*ParseIp("127.0.0.1")));
  EXPECT_FALSE(one->Contains(*ParseIp("127.0.0.2")));
  auto v6 = ParseNetwork("fd00::/8", &error);
  ASSERT_TRUE(v6.has_value());
  EXPECT_TRUE(v6->Contains(*ParseIp("fd12::1")));
  EXPECT_FALSE(v6->Contains(*ParseIp("fc00::1")));
  auto all = ParseNetwork("0.0.0.0/0", &error);
  ASSERT_TRUE(all.has_value());
  EXPECT_TRUE(all->Contains(*ParseIp("192.168.0.1")));
  EXPECT_FALSE(all->Contains(*ParseIp("fd00::1")));  // an IPv4 network holds no IPv6 address

  EXPECT_FALSE(ParseNetwork("10.0.0.1/8", &error).has_value());
  EXPECT_NE(error.find("10.0.0.0/8"), std::string::npos) << error;
  EXPECT_FALSE(ParseNetwork("10.0.0.0/33", &error).has_value());
  EXPECT_NE(error.find("0 to 32"), std::string::npos) << error;
  EXPECT_FALSE(ParseNetwork("10.0.0/8", &error).has_value());
  EXPECT_FALSE(ParseNetwork("fd00::/129", &error).has_value());
}

}  // namespace
}  // namespace chansum::net
