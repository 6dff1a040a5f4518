#pragma once
// The operator's list of non-public destinations outbound fetches may reach anyway
// (FETCH_ALLOWLIST), e.g. the local demo server on 127.0.0.1.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chansum/common/result.hpp"
#include "chansum/net/address.hpp"

namespace chansum::net {

// One entry: an address block or a host name, optionally with a port.
struct AllowRule {
  std::optional<Network> network;     // set: any address in it (the URL's host may be a name)
  std::string host;                   // set instead: this host name (lower case) as written in URLs
  std::optional<std::uint16_t> port;  // nullopt: any port
  std::string text;                   // the entry as written
};

class AllowList {
 public:
  // Entries separated by commas and/or whitespace:
  //   127.0.0.1          one address, any port       127.0.0.1:30090      one address and port
  //   10.0.0.0/8         a network, any port         10.0.0.0/8:443       a network and port
  //   ::1  fd00::/8      IPv6, any port              [::1]:8080  [fd00::/8]:443   with a port
  //   media.internal     a host name (whatever it resolves to), any port; media.internal:8080
  // Every malformed entry is reported in one permanent "invalid_allowlist" error.
  [[nodiscard]] static Result<AllowList> Parse(std::string_view text);

  // True when a rule allows connecting to `address` on `port` for a URL whose host is `host`
  // (lower case, without brackets).
  [[nodiscard]] bool Allows(std::string_view host, const IpAddress& address,
                            std::uint16_t port) const;
  [[nodiscard]] bool empty() const { return rules_.empty(); }
  [[nodiscard]] const std::vector<AllowRule>& rules() const { return rules_; }

 private:
  std::vector<AllowRule> rules_;
};

}  // namespace chansum::net
