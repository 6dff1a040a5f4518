#include "chansum/net/allow_list.hpp"

#include <gtest/gtest.h>

namespace chansum::net {
namespace {

IpAddress Ip(const char* text) { return *ParseIp(text); }

TEST(AllowListTest, EmptyAllowsNothing) {
  auto list = AllowList::Parse("  , ");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_FALSE(list->Allows("127.0.0.1", Ip("127.0.0.1"), 80));
}

TEST(AllowListTest, AddressesNetworksPortsAndNames) {
  auto list = AllowList::Parse(
      "127.0.0.1:30090, 10.0.0.0/8 [::1]:8080,fd00::/8,[fc00::/16]:443 media.internal:9000 "
      "Files.Local");
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(list->rules().size(), 7u);
  EXPECT_TRUE(list->Allows("127.0.0.1", Ip("127.0.0.1"), 30090));
  EXPECT_FALSE(list->Allows("127.0.0.1", Ip("127.0.0.1"), 25432));
  EXPECT_FALSE(list->Allows("127.0.0.2", Ip("127.0.0.2"), 30090));
  EXPECT_TRUE(list->Allows("10.1.2.3", Ip("10.1.2.3"), 5432));
  EXPECT_TRUE(list->Allows("x.example", Ip("10.1.2.3"), 80));  // a name resolving into 10/8
  EXPECT_TRUE(list->Allows("::1", Ip("::1"), 8080));
  EXPECT_FALSE(list->Allows("::1", Ip("::1"), 8081));
  EXPECT_TRUE(list->Allows("fd00::1", Ip("fd00::1"), 1));
  EXPECT_TRUE(list->Allows("fc00::1", Ip("fc00::1"), 443));
  EXPECT_FALSE(list->Allows("fc00::1", Ip("fc00::1"), 80));
  EXPECT_TRUE(list->Allows("media.internal", Ip("192.168.1.5"), 9000));
  EXPECT_FALSE(list->Allows("media.internal", Ip("192.168.1.5"), 80));
  EXPECT_FALSE(list->Allows("other.internal", Ip("192.168.1.5"), 9000));
  EXPECT_TRUE(list->Allows("files.local", Ip("169.254.1.1"), 80));
  EXPECT_FALSE(list->Allows("169.254.169.254", Ip("169.254.169.254"), 80));
}

TEST(AllowListTest, ReportsEveryMalformedEntryWithItsPosition) {
  auto list = AllowList::Parse("127.0.0.1:0,10.0.0.1/8,good.host,[::1,999.1.1.1,a b:x,/8,x@y");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code, "invalid_allowlist");
  const auto& m = list.error().message;
  for (const char* part : {"entry 1 '127.0.0.1:0'", "1 to 65535", "entry 2 '10.0.0.1/8'",
                           "10.0.0.0/8", "entry 4 '[::1'", "entry 5 '999.1.1.1'", "entry 7 'b:x'",
                           "entry 8 '/8'", "entry 9 'x@y'"}) {
    EXPECT_NE(m.find(part), std::string::npos) << part << " missing in: " << m;
  }
  EXPECT_EQ(m.find("good.host"), std::string::npos) << m;
}

}  // namespace
}  // namespace chansum::net
