#include "chansum/net/allow_list.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace chansum::net {
namespace {

std::optional<std::uint16_t> ParsePort(std::string_view digits) {
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || value == 0 ||
      value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

bool IsHostName(std::string_view s) {
  return !s.empty() && s.size() <= 253 && s.front() != '.' && s.front() != '-' &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' ||
                  c == '_';
         });
}

Result<AllowRule> ParseRule(std::string_view entry) {
  AllowRule rule;
  rule.text = std::string(entry);
  std::string_view target = entry;
  std::string_view port;
  bool has_port = false;
  if (entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) return Error::Permanent("x", "']' is missing");
    target = entry.substr(1, close - 1);
    const auto tail = entry.substr(close + 1);
    if (!tail.empty()) {
      if (tail.front() != ':') return Error::Permanent("x", "only ':port' may follow ']'");
      port = tail.substr(1);
      has_port = true;
    }
  } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
    // One colon: host:port or IPv4[/n]:port. More colons: an IPv6 address without a port.
    const auto colon = entry.find(':');
    target = entry.substr(0, colon);
    port = entry.substr(colon + 1);
    has_port = true;
  }
  if (has_port) {
    rule.port = ParsePort(port);
    if (!rule.port) {
      return Error::Permanent("x", "port '" + std::string(port) + "' is not from 1 to 65535");
    }
  }
  if (target.empty()) return Error::Permanent("x", "no address or host name");
  const bool ip_like = target.find(':') != std::string_view::npos ||
                       target.find('/') != std::string_view::npos || LooksNumeric(target);
  if (ip_like) {
    std::string error;
    rule.network = ParseNetwork(target, &error);
    if (!rule.network) return Error::Permanent("x", error);
    return rule;
  }
  if (!IsHostName(target)) {
    return Error::Permanent(
        "x",
        "'" + std::string(target) + "' is neither an IP address, a network (CIDR) nor a host name");
  }
  std::string host(target);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host.back() == '.') host.pop_back();
  rule.host = std::move(host);
  return rule;
}

}  // namespace

Result<AllowList> AllowList::Parse(std::string_view text) {
  AllowList list;
  std::vector<std::string> problems;
  std::size_t index = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto start = text.find_first_not_of(", \t\r\n", pos);
    if (start == std::string_view::npos) break;
    auto end = text.find_first_of(", \t\r\n", start);
    if (end == std::string_view::npos) end = text.size();
    const auto entry = text.substr(start, end - start);
    pos = end;
    ++index;
    auto rule = ParseRule(entry);
    if (rule.ok()) {
      list.rules_.push_back(std::move(*rule));
    } else {
      problems.push_back("entry " + std::to_string(index) + " '" + std::string(entry) +
                         "': " + rule.error().message);
    }
  }
  if (!problems.empty()) {
    std::string message;
    for (const auto& p : problems) message += (message.empty() ? "" : "; ") + p;
    return Error::Permanent("invalid_allowlist", message);
  }
  return list;
}

bool AllowList::Allows(std::string_view host, const IpAddress& address, std::uint16_t port) const {
  return std::any_of(rules_.begin(), rules_.end(), [&](const AllowRule& r) {
    if (r.port && *r.port != port) return false;
    if (r.network) return r.network->Contains(address);
    return r.host == host;
  });
}

}  // namespace chansum::net
