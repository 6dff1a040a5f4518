#include "chansum/net/destination.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace chansum::net {
namespace {

// Names resolve through this table only: no test here asks DNS anything.
struct FakeDns {
  std::map<std::string, std::vector<IpAddress>> table = {
      {"metadata.test", {*ParseIp("169.254.169.254")}},
      {"intranet.test", {*ParseIp("10.0.0.1")}},
      {"ula.test", {*ParseIp("fd00::1")}},
      {"mapped.test", {*ParseIp("::ffff:127.0.0.1")}},
      {"nat64.test", {*ParseIp("64:ff9b::a9fe:a9fe")}},
      {"public.test", {*ParseIp("93.184.216.34"), *ParseIp("2606:2800:220:1::1")}},
      // One public and one private address: the fetcher may pick either.
      {"mixed.test", {*ParseIp("93.184.216.34"), *ParseIp("192.168.0.10")}},
      {"empty.test", {}},
  };
  std::vector<std::string> asked;
  Resolver Hook() {
    return [this](const std::string& host) -> Result<std::vector<IpAddress>> {
      asked.push_back(host);
      if (host == "flaky.test") return Error::Transient("dns_error", "try again");
      const auto it = table.find(host);
      if (it == table.end()) return Error::Permanent("destination_unresolvable", "no " + host);
      return it->second;
    };
  }
};

TEST(UrlTargetTest, FindsHostAndPort) {
  auto t = ParseUrlTarget("HTTPS://User:pw@Example.COM./feed?x=1#y");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->scheme, "https");
  EXPECT_EQ(t->host, "example.com");
  EXPECT_EQ(t->port, 443);
  EXPECT_FALSE(t->ip_literal);
  t = ParseUrlTarget("http://[::ffff:127.0.0.1]:8080");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "::ffff:127.0.0.1");
  EXPECT_EQ(t->port, 8080);
  t = ParseUrlTarget("http://127.0.0.1:25432/x");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->port, 25432);
}

TEST(UrlTargetTest, NormalisesOtherIpv4Spellings) {
  for (const char* url : {"http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/",
                          "http://127.1/", "http://0x7F000001:80/", "http://127.0.0.1./"}) {
    auto t = ParseUrlTarget(url);
    ASSERT_TRUE(t.ok()) << url << ": " << t.error().message;
    EXPECT_EQ(t->host, "127.0.0.1") << url;
    EXPECT_TRUE(t->ip_literal) << url;
  }
}

TEST(UrlTargetTest, RefusesWhatCannotBeChecked) {
  for (const char* url : {"ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1:25/",
                          "http://", "http:///x", "http://1.2.3.999/", "http://[fe80::1%25eth0]/",
                          "http://[127.0.0.1]/", "http://exa%6dple.com/", "http://a:0/",
                          "http://a:65536/", "http://a:x/", "//example.com/", "example.com"}) {
    auto t = ParseUrlTarget(url);
    EXPECT_FALSE(t.ok()) << url;
    if (!t.ok()) {
      EXPECT_EQ(t.error().code, "invalid_url") << url;
    }
  }
}

TEST(DestinationPolicyTest, RefusesNonPublicLiteralsBeforeAnyLookup) {
  FakeDns dns;
  const DestinationPolicy policy(AllowList{}, dns.Hook());
  for (const char* url :
       {"http://127.0.0.1:25432/x", "http://169.254.169.254/latest/", "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/", "http://[fd00::1]/", "http://[fe80::1]/",
        "http://2130706433/", "http://0x7f.1/", "http://0/", "http://10.0.0.1/",
        "http://100.64.0.1/", "http://192.168.1.1/", "http://172.16.0.1/", "http://224.0.0.1/",
        "http://[64:ff9b::a9fe:a9fe]/"}) {
    const auto st = policy.Check(url);
    ASSERT_FALSE(st.ok()) << url;
    EXPECT_EQ(st.error().code, kDestinationNotAllowed) << url;
    EXPECT_FALSE(st.error().transient()) << url;
  }
  EXPECT_TRUE(dns.asked.empty());
  EXPECT_TRUE(policy.Check("http://8.8.8.8/").ok());
  EXPECT_TRUE(policy.Check("https://[2606:4700::1111]/").ok());
}

TEST(DestinationPolicyTest, RefusesNamesThatResolveToNonPublicAddresses) {
  FakeDns dns;
  const DestinationPolicy policy(AllowList{}, dns.Hook());
  for (const char* url : {"http://metadata.test/latest/meta-data/",
                          "https://intranet.test/feed.xml", "http://ula.test/",
                          "http://mapped.test:8080/", "http://nat64.test/", "http://mixed.test/"}) {
    const auto st = policy.Check(url);
    ASSERT_FALSE(st.ok()) << url;
    EXPECT_EQ(st.error().code, kDestinationNotAllowed) << url;
    EXPECT_NE(st.error().message.find("resolves to a"), std::string::npos) << st.error().message;
  }
  EXPECT_TRUE(policy.Check("https://public.test/videos").ok());
  EXPECT_EQ(policy.Check("http://metadata.test/").error().message.find("169.254"),
            std::string::npos)
      << "the refusal names the kind, not the internal address";
}

TEST(DestinationPolicyTest, SpecialUseNamesAreAnsweredWithoutAskingTheResolver) {
  FakeDns dns;
  const DestinationPolicy policy(AllowList{}, dns.Hook());
  for (const char* url :
       {"http://localhost:25432/", "http://LocalHost./", "http://a.b.localhost/"}) {
    const auto st = policy.Check(url);
    ASSERT_FALSE(st.ok()) << url;
    EXPECT_EQ(st.error().code, kDestinationNotAllowed) << url;
  }
  const auto st = policy.Check("http://instant.invalid/videos/3");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "destination_unresolvable");
  EXPECT_TRUE(dns.asked.empty());
  EXPECT_FALSE(policy.Check("http://notlocalhost/").ok());  // asked (and unknown to the fake)
  EXPECT_EQ(dns.asked.size(), 1u);
}

TEST(DestinationPolicyTest, ResolverFailuresKeepTheirClass) {
  FakeDns dns;
  const DestinationPolicy policy(AllowList{}, dns.Hook());
  auto st = policy.Check("http://flaky.test/");
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.error().transient());
  st = policy.Check("http://nowhere.test/");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "destination_unresolvable");
  st = policy.Check("http://empty.test/");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "destination_unresolvable");
  EXPECT_EQ(policy.Check("ftp://public.test/").error().code, "invalid_url");
}

TEST(DestinationPolicyTest, TheAllowListOpensExactlyWhatItNames) {
  FakeDns dns;
  auto allow = AllowList::Parse("127.0.0.1:30090,intranet.test,fd00::/8");
  ASSERT_TRUE(allow.ok());
  const DestinationPolicy policy(*allow, dns.Hook());
  EXPECT_TRUE(policy.Check("http://127.0.0.1:30090/feed.xml").ok());
  EXPECT_TRUE(policy.Check("http://2130706433:30090/feed.xml").ok());  // same address and port
  EXPECT_FALSE(policy.Check("http://127.0.0.1:25432/x").ok());
  EXPECT_FALSE(policy.Check("http://127.0.0.2:30090/").ok());
  EXPECT_TRUE(policy.Check("https://intranet.test/feed.xml").ok());
  EXPECT_TRUE(policy.Check("http://ula.test/").ok());
  EXPECT_FALSE(policy.Check("http://metadata.test/").ok());
  EXPECT_FALSE(policy.Check("http://mixed.test/").ok());
}

TEST(DestinationPolicyTest, CacheAsksOncePerHost) {
  FakeDns dns;
  const DestinationPolicy policy(AllowList{}, dns.Hook());
  DestinationPolicy::Cache cache;
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(policy.Check("https://public.test/v" + std::to_string(i), &cache).ok());
    EXPECT_FALSE(policy.Check("https://intranet.test/v" + std::to_string(i), &cache).ok());
  }
  EXPECT_EQ(dns.asked.size(), 2u);
}

TEST(DestinationPolicyTest, FromEnvReadsAllowListAndStaticHosts) {
  ConfigReader env(std::map<std::string, std::string>{
      {"FETCH_ALLOWLIST", "127.0.0.1:30090"},
      {"FETCH_STATIC_HOSTS", "private.test=10.0.0.1, both.test=8.8.8.8|fd00::1"}});
  const auto policy = DestinationPolicy::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_TRUE(policy.Check("http://127.0.0.1:30090/feed.xml").ok());
  EXPECT_EQ(policy.Check("http://private.test/feed.xml").error().code, kDestinationNotAllowed);
  EXPECT_EQ(policy.Check("http://both.test/").error().code, kDestinationNotAllowed);

  ConfigReader bad(std::map<std::string, std::string>{{"FETCH_ALLOWLIST", "10.0.0.1/8"},
                                                      {"FETCH_STATIC_HOSTS", "x=nothing"}});
  (void)DestinationPolicy::FromEnv(bad);
  ASSERT_EQ(bad.problems().size(), 2u);
  EXPECT_NE(bad.problems()[0].find("FETCH_ALLOWLIST"), std::string::npos);
  EXPECT_NE(bad.problems()[1].find("FETCH_STATIC_HOSTS"), std::string::npos);
}

TEST(DestinationPolicyTest, TheSystemResolverHookResolvesLocalNamesOnly) {
  // "localhost" is answered from /etc/hosts, and a numeric host by getaddrinfo itself: no DNS
  // query leaves the machine.
  auto local = SystemResolve("localhost");
  ASSERT_TRUE(local.ok()) << local.error().message;
  ASSERT_FALSE(local->empty());
  for (const auto& a : *local) EXPECT_EQ(Classify(a), AddressKind::kLoopback) << a.ToString();
  auto numeric = SystemResolve("169.254.169.254");
  ASSERT_TRUE(numeric.ok());
  EXPECT_EQ(numeric->at(0).ToString(), "169.254.169.254");
}

TEST(DestinationPolicyTest, ResolveGivesTheAddressesAFetcherMayConnectTo) {
  FakeDns dns;
  auto allow = AllowList::Parse("10.0.0.1:8080");
  ASSERT_TRUE(allow.ok());
  const DestinationPolicy policy(*allow, dns.Hook());
  auto d = policy.Resolve("https://public.test/a.mp3");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->target.host, "public.test");
  EXPECT_EQ(d->target.port, 443);
  ASSERT_EQ(d->addresses.size(), 2U);
  EXPECT_EQ(d->addresses[0].ToString(), "93.184.216.34");
  auto intranet = policy.Resolve("http://intranet.test:8080/x");
  ASSERT_TRUE(intranet.ok());
  EXPECT_EQ(intranet->addresses[0].ToString(), "10.0.0.1");
  auto refused = policy.Resolve("http://mixed.test/x");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, kDestinationNotAllowed);
}

TEST(DestinationPolicyTest, CheckConnectJudgesTheAddressActuallyConnectedTo) {
  FakeDns dns;
  auto allow = AllowList::Parse("10.0.0.1:8080, media.internal");
  ASSERT_TRUE(allow.ok());
  const DestinationPolicy policy(*allow, dns.Hook());
  // A public name whose connection lands on a private address (DNS rebinding, a redirect's
  // second lookup) is refused at connect time.
  auto rebound = policy.CheckConnect("public.test", *ParseIp("169.254.169.254"), 80);
  ASSERT_FALSE(rebound.ok());
  EXPECT_EQ(rebound.error().code, kDestinationNotAllowed);
  EXPECT_NE(rebound.error().message.find("169.254.169.254:80"), std::string::npos);
  EXPECT_FALSE(policy.CheckConnect("public.test", *ParseIp("::ffff:127.0.0.1"), 80).ok());
  EXPECT_TRUE(policy.CheckConnect("public.test", *ParseIp("93.184.216.34"), 80).ok());
  // The allow list applies with the host and port of the connection.
  EXPECT_TRUE(policy.CheckConnect("10.0.0.1", *ParseIp("10.0.0.1"), 8080).ok());
  EXPECT_FALSE(policy.CheckConnect("10.0.0.1", *ParseIp("10.0.0.1"), 8081).ok());
  EXPECT_TRUE(policy.CheckConnect("media.internal", *ParseIp("10.9.9.9"), 443).ok());
  EXPECT_FALSE(policy.CheckConnect("other.internal", *ParseIp("10.9.9.9"), 443).ok());
  EXPECT_TRUE(dns.asked.empty());  // never resolves anything
}

TEST(DestinationPolicyTest, FromSockaddrReadsBothFamilies) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(8080);
  v4.sin_addr.s_addr = htonl(0xa9fea9fe);
  std::uint16_t port = 0;
  auto a = FromSockaddr(reinterpret_cast<const sockaddr*>(&v4), &port);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ToString(), "169.254.169.254");
  EXPECT_EQ(port, 8080);
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(443);
  v6.sin6_addr = in6addr_loopback;
  auto b = FromSockaddr(reinterpret_cast<const sockaddr*>(&v6), &port);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->ToString(), "::1");
  EXPECT_EQ(port, 443);
  sockaddr other{};
  other.sa_family = AF_UNIX;
  EXPECT_FALSE(FromSockaddr(&other));
}

}  // namespace
}  // namespace chansum::net
