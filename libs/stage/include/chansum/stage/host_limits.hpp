#pragma once
// Per-host rate limits shared by every worker of every process (issue 15 §2): a token bucket per
// host pattern kept in PostgreSQL (table host_rate_limits, migration 0015), taken by one atomic
// statement (SELECT ... FOR UPDATE + UPDATE ... RETURNING) before each yt-dlp call of discovery
// and download; a 429, YouTube's session rate limit or a bot check blocks the host for everyone
// (blocked_until).
//
// Environment:
//   RATE_LIMIT_YOUTUBE          YouTube's hosts (youtube.com and its subdomains, youtu.be,
//                               youtube-nocookie.com): "1/s burst 5" (default), "off" = no limit
//   RATE_LIMIT_HOSTS            other hosts: "pattern=RATE[, pattern=RATE...]", a pattern an exact
//                               host ("media.example") or "*.example.org" (the domain and its
//                               subdomains); RATE as above. Default empty: no limit (the demo).
//   RATE_LIMIT_MAX_WAIT         longest a worker sleeps for a token (default 10s); a longer wait
//                               ends the attempt with transient "host_busy" and a retry delayed
//                               until the token is due, so no lease is held idle for long
//   RATE_LIMIT_BLOCK_429        how long a 429 / rate-limited answer blocks the host (default 5m)
//   RATE_LIMIT_BLOCK_BOT_CHECK  how long a bot check blocks the host (default 1h)
// RATE: "<n>/s", "<n>/m" or "<n>/h" (n > 0, may be fractional), optionally " burst <k>" (k >= 1,
// default 1): at most k calls at once, then n per unit on average.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"

namespace chansum::pg {
class ConnectionPool;
struct PgConfig;
}  // namespace chansum::pg

namespace chansum::stage {

struct HostRate {
  double per_second = 0;  // refill rate
  double burst = 1;       // bucket size
};
// "1/s burst 5" -> {1, 5}; an error message for anything else.
[[nodiscard]] Result<HostRate> ParseHostRate(std::string_view text);

struct HostRule {
  std::string pattern;             // "youtube" for the built-in YouTube rule, else as configured
  std::vector<std::string> hosts;  // exact hosts, or "*.domain" (domain and subdomains)
  HostRate rate;
};

struct HostLimitsConfig {
  std::vector<HostRule> rules;
  std::chrono::milliseconds max_wait{std::chrono::seconds(10)};
  std::chrono::milliseconds block_429{std::chrono::minutes(5)};
  std::chrono::milliseconds block_bot_check{std::chrono::hours(1)};

  [[nodiscard]] static HostLimitsConfig FromEnv(ConfigReader& env);
};

// The bucket a URL's host belongs to: the rule's pattern and its rate, or (no rule) the lower-case
// host and no rate. nullopt when the URL has no host.
struct HostBucket {
  std::string bucket;
  std::optional<HostRate> rate;
};
[[nodiscard]] std::optional<HostBucket> BucketForUrl(const HostLimitsConfig& config,
                                                     std::string_view url);

// What one take of a token says.
struct HostPermit {
  bool granted = false;               // a token is this caller's (maybe after `wait`)
  std::chrono::milliseconds wait{0};  // granted: sleep this long first; refused: retry after it
  bool blocked = false;               // refused because the host is blocked
  std::string blocked_reason;         // e.g. "bot_check"
};

class HostLimits {
 public:
  HostLimits(pg::ConnectionPool& pool, HostLimitsConfig config);

  // Takes a token of the bucket (atomic in PostgreSQL across processes). Granted with a wait of at
  // most max_wait, or refused (host blocked, or the next token is further away than max_wait).
  [[nodiscard]] Result<HostPermit> Take(const HostBucket& bucket);
  // Blocks the bucket for everyone until now + `duration` (never shortens a longer block).
  [[nodiscard]] Status Block(const std::string& bucket, std::chrono::milliseconds duration,
                             const std::string& reason);

  // Before a yt-dlp call on `url`: takes a token, sleeping up to max_wait (stopping early when
  // `should_stop` says so). OkStatus to go ahead; a transient "host_blocked" / "host_busy" error
  // whose retry_after says when to come back otherwise. A database failure is
  // transient too (nothing is fetched). `job_id` (optional): a refusal because of a bot check is
  // recorded as the job's warning.
  [[nodiscard]] Status Acquire(std::string_view url, const std::function<bool()>& should_stop,
                               const std::string& job_id = "");
  // After a yt-dlp call on `url` failed: a "bot_check" blocks the host for block_bot_check, a
  // "rate_limited" for block_429; the error is returned with the block as its retry_after (and
  // said in its message), so its retry waits for the host, not for a per-video backoff.
  // Other errors come back unchanged.
  // A bot check is also recorded as a warning of `job_id` (job_warnings, GET /jobs/{id}).
  [[nodiscard]] Error Observe(std::string_view url, Error error, const std::string& job_id = "");
  // Upserts the job's "bot_check" warning (count and last_at grow); failures are only logged.
  void WarnBotCheck(const std::string& job_id, const std::string& bucket);

  [[nodiscard]] const HostLimitsConfig& config() const noexcept { return config_; }

 private:
  pg::ConnectionPool& pool_;
  const HostLimitsConfig config_;
};

// HostLimits with a pool of its own (a stage's handlers share one): built from the environment in
// a stage definition's `configure`; connects lazily, on the first Acquire.
class SharedHostLimits {
 public:
  static std::shared_ptr<SharedHostLimits> FromEnv(ConfigReader& env);
  HostLimits& limits() { return *limits_; }

 private:
  SharedHostLimits() = default;
  std::unique_ptr<pg::ConnectionPool> pool_;
  std::unique_ptr<HostLimits> limits_;
};

}  // namespace chansum::stage
