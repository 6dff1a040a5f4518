#include "chansum/stage/host_limits.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <thread>

#include "chansum/metrics/metrics.hpp"
#include "chansum/pg/connection.hpp"
#include "chansum/pg/pool.hpp"
#include "chansum/pg/transaction.hpp"

namespace chansum::stage {
namespace {

using std::chrono::milliseconds;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

std::optional<double> ParsePositive(std::string_view s) {
  const std::string text(Trim(s));
  if (text.empty()) return std::nullopt;
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != text.size() || !std::isfinite(v) || v <= 0) return std::nullopt;
  return v;
}

bool ValidHostPattern(std::string_view p) {
  if (p.starts_with("*.")) p.remove_prefix(2);
  if (p.empty() || p.size() > 253) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':' ||
           c == '[' || c == ']';
  });
}

bool HostMatches(std::string_view host, std::string_view pattern) {
  if (pattern.starts_with("*.")) {
    const auto domain = pattern.substr(2);
    return host == domain || (host.size() > domain.size() && host.ends_with(domain) &&
                              host[host.size() - domain.size() - 1] == '.');
  }
  return host == pattern;
}

// The lower-case host of an http(s) URL, without user info and port.
std::optional<std::string> HostOf(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::nullopt;
  auto rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    rest = rest.substr(0, close + 1);
  } else if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return std::nullopt;
  return Lower(rest);
}

struct HostMetrics {
  HostMetrics() {
    auto& r = metrics::Registry::Default();
    waits = &r.AddCounter("chansum_host_rate_limit_waits_total",
                          "yt-dlp calls that slept for a host's shared token bucket, by bucket.",
                          {"bucket"});
    refused = &r.AddCounter("chansum_host_rate_limit_refused_total",
                            "yt-dlp calls not started because the host was blocked or its next "
                            "token was too far away (retried later), by bucket and reason.",
                            {"bucket", "reason"});
    blocks = &r.AddCounter("chansum_host_blocks_total",
                           "Times a host was blocked for every worker, by bucket and reason "
                           "(rate_limited, bot_check).",
                           {"bucket", "reason"});
    bot_checks =
        &r.AddCounter("chansum_ytdlp_bot_checks_total",
                      "yt-dlp calls a host answered with a bot check (\"Sign in to confirm "
                      "you're not a bot\"): cookies (YTDLP_COOKIES_FILE) or a proxy "
                      "(YTDLP_PROXY) are needed.",
                      {})
             .Labels({});
  }
  metrics::Family<metrics::Counter>* waits;
  metrics::Family<metrics::Counter>* refused;
  metrics::Family<metrics::Counter>* blocks;
  metrics::Counter* bot_checks;
};

HostMetrics& Metrics() {
  static HostMetrics m;
  return m;
}

}  // namespace

Result<HostRate> ParseHostRate(std::string_view text) {
  const std::string t = Lower(Trim(text));
  const auto bad = [&] {
    return Error::Permanent("invalid_rate", "'" + std::string(Trim(text)) +
                                                "' is not a rate like 1/s, 30/m or 1/s burst 5");
  };
  std::string_view rest = t;
  HostRate rate;
  if (const auto b = rest.find("burst"); b != std::string_view::npos) {
    const auto burst = ParsePositive(rest.substr(b + 5));
    if (!burst || *burst < 1 || *burst > 1e6) return bad();
    rate.burst = std::floor(*burst);
    rest = Trim(rest.substr(0, b));
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return bad();
  const auto n = ParsePositive(rest.substr(0, slash));
  const auto unit = Trim(rest.substr(slash + 1));
  double per = 0;
  if (unit == "s") {
    per = 1;
  } else if (unit == "m") {
    per = 60;
  } else if (unit == "h") {
    per = 3600;
  } else {
    return bad();
  }
  if (!n || *n > 1e6) return bad();
  rate.per_second = *n / per;
  return rate;
}

HostLimitsConfig HostLimitsConfig::FromEnv(ConfigReader& env) {
  HostLimitsConfig c;
  const std::string youtube = env.String("RATE_LIMIT_YOUTUBE", "1/s burst 5");
  if (Lower(Trim(youtube)) != "off") {
    auto rate = ParseHostRate(youtube);
    if (rate.ok()) {
      c.rules.push_back(
          HostRule{"youtube", {"*.youtube.com", "youtu.be", "*.youtube-nocookie.com"}, *rate});
    } else {
      env.AddProblem("RATE_LIMIT_YOUTUBE: " + rate.error().message);
    }
  }
  const std::string hosts = env.String("RATE_LIMIT_HOSTS", "");
  std::size_t pos = 0;
  while (pos < hosts.size()) {
    auto comma = hosts.find(',', pos);
    if (comma == std::string::npos) comma = hosts.size();
    const std::string_view item = Trim(std::string_view(hosts).substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string pattern = eq == std::string_view::npos ? "" : Lower(Trim(item.substr(0, eq)));
    if (eq == std::string_view::npos || !ValidHostPattern(pattern)) {
      env.AddProblem("RATE_LIMIT_HOSTS: '" + std::string(item) +
                     "' is not host=RATE (host as media.example or *.example.org)");
      continue;
    }
    auto rate = ParseHostRate(item.substr(eq + 1));
    if (!rate.ok()) {
      env.AddProblem("RATE_LIMIT_HOSTS: " + pattern + ": " + rate.error().message);
      continue;
    }
    c.rules.push_back(HostRule{pattern, {pattern}, *rate});
  }
  c.max_wait = env.Duration("RATE_LIMIT_MAX_WAIT", c.max_wait);
  c.block_429 = env.Duration("RATE_LIMIT_BLOCK_429", c.block_429);
  c.block_bot_check = env.Duration("RATE_LIMIT_BLOCK_BOT_CHECK", c.block_bot_check);
  return c;
}

std::optional<HostBucket> BucketForUrl(const HostLimitsConfig& config, std::string_view url) {
  const auto host = HostOf(url);
  if (!host) return std::nullopt;
  for (const auto& rule : config.rules) {
    for (const auto& pattern : rule.hosts) {
      if (HostMatches(*host, pattern)) return HostBucket{rule.pattern, rule.rate};
    }
  }
  return HostBucket{*host, std::nullopt};
}

HostLimits::HostLimits(pg::ConnectionPool& pool, HostLimitsConfig config)
    : pool_(pool), config_(std::move(config)) {}

Result<HostPermit> HostLimits::Take(const HostBucket& bucket) {
  const double rate = bucket.rate ? bucket.rate->per_second : 0;
  const double burst = bucket.rate ? bucket.rate->burst : 1;
  const double max_wait_s = static_cast<double>(config_.max_wait.count()) / 1000.0;
  return pg::WithTransaction(pool_, [&](pqxx::work& txn) -> HostPermit {
    txn.exec_params(
        "INSERT INTO host_rate_limits (bucket, tokens) VALUES ($1, $2) "
        "ON CONFLICT (bucket) DO NOTHING",
        bucket.bucket, burst);
    // One statement: the row is locked, refilled from the elapsed time, and a token taken when
    // the host is not blocked and the token is due within max_wait (the level may go below 0:
    // the taker has reserved a later slot and sleeps until it). Without a rate only the block
    // counts.
    const auto row = txn.exec_params1(
        "WITH cur AS ("
        "  SELECT bucket, blocked_until, blocked_reason, clock_timestamp() AS at,"
        "         CASE WHEN $2::float8 > 0 THEN LEAST($3::float8, tokens + GREATEST(0, "
        "           EXTRACT(EPOCH FROM clock_timestamp() - updated_at)) * $2::float8)"
        "         ELSE $3::float8 END AS avail"
        "  FROM host_rate_limits WHERE bucket = $1 FOR UPDATE),"
        " d AS (SELECT *, (blocked_until IS NULL OR blocked_until <= at) AS open FROM cur),"
        " t AS (SELECT *, open AND ($2::float8 = 0 OR avail - 1 >= -($4::float8 * $2::float8))"
        "         AS take FROM d) "
        "UPDATE host_rate_limits h SET"
        "  tokens = CASE WHEN t.take AND $2::float8 > 0 THEN t.avail - 1 ELSE t.avail END,"
        "  updated_at = t.at, granted = h.granted + CASE WHEN t.take THEN 1 ELSE 0 END "
        "FROM t WHERE h.bucket = t.bucket "
        "RETURNING t.take, t.avail, t.open,"
        "  COALESCE(EXTRACT(EPOCH FROM t.blocked_until - t.at), 0)::float8,"
        "  COALESCE(t.blocked_reason, '')",
        bucket.bucket, rate, burst, max_wait_s);
    HostPermit p;
    p.granted = row[0].as<bool>();
    const double avail = row[1].as<double>();
    p.blocked = !row[2].as<bool>();
    const double blocked_s = row[3].as<double>();
    p.blocked_reason = row[4].as<std::string>();
    double wait_s = 0;
    if (p.blocked) {
      wait_s = blocked_s;
    } else if (rate > 0 && avail < 1) {
      wait_s = (1 - avail) / rate;  // until the reserved (granted) or the next (refused) token
    }
    p.wait = milliseconds(static_cast<std::int64_t>(std::ceil(std::max(0.0, wait_s) * 1000)));
    return p;
  });
}

Status HostLimits::Block(const std::string& bucket, milliseconds duration,
                         const std::string& reason) {
  return pg::WithTransaction(pool_, [&](pqxx::work& txn) {
    txn.exec_params(
        "INSERT INTO host_rate_limits AS h (bucket, tokens, blocked_until, blocked_reason, "
        "  blocked_count) VALUES ($1, 0, clock_timestamp() + $2 * interval '1 millisecond', $3, 1) "
        "ON CONFLICT (bucket) DO UPDATE SET"
        "  blocked_until = GREATEST(COALESCE(h.blocked_until, '-infinity'), "
        "    EXCLUDED.blocked_until),"
        "  blocked_reason = EXCLUDED.blocked_reason, blocked_count = h.blocked_count + 1",
        bucket, static_cast<std::int64_t>(duration.count()), reason);
  });
}

void HostLimits::WarnBotCheck(const std::string& job_id, const std::string& bucket) {
  if (job_id.empty()) return;
  const std::string message =
      bucket +
      " asked to confirm we are not a bot: its videos wait (the host is blocked for every "
      "worker) and will keep failing until cookies (YTDLP_COOKIES_FILE) or a proxy (YTDLP_PROXY) "
      "are configured for discovery and download";
  auto st = pg::WithTransaction(pool_, [&](pqxx::work& txn) {
    txn.exec_params(
        "INSERT INTO job_warnings AS w (job_id, code, message) "
        "SELECT $1::uuid, 'bot_check', $2 WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $1::uuid) "
        "ON CONFLICT (job_id, code) DO UPDATE SET count = w.count + 1, last_at = now(), "
        "message = EXCLUDED.message",
        job_id, message);
    // The job's view changed: its updated_at moves, so its change row moves the ETag of
    // GET /jobs/{id} and the live stream sees it.
    txn.exec_params("UPDATE jobs SET updated_at = now() WHERE id = $1::uuid", job_id);
  });
  if (!st.ok())
    spdlog::warn("could not record the job's bot-check warning: {}", st.error().ToString());
}

Status HostLimits::Acquire(std::string_view url, const std::function<bool()>& should_stop,
                           const std::string& job_id) {
  const auto bucket = BucketForUrl(config_, url);
  if (!bucket) return OkStatus();
  auto permit = Take(*bucket);
  if (!permit.ok()) return permit.error();
  if (!permit->granted) {
    const std::string reason = permit->blocked ? "blocked" : "busy";
    Metrics().refused->Labels({bucket->bucket, reason}).Inc();
    if (permit->blocked && permit->blocked_reason == "bot_check") {
      WarnBotCheck(job_id, bucket->bucket);
    }
    Error e =
        permit->blocked
            ? Error::Transient(
                  "host_blocked",
                  fmt::format("{} is blocked for every worker for {} s more ({}){}", bucket->bucket,
                              (permit->wait.count() + 999) / 1000, permit->blocked_reason,
                              permit->blocked_reason == "bot_check"
                                  ? ": it asked to confirm we are not a bot; set "
                                    "YTDLP_COOKIES_FILE or YTDLP_PROXY"
                                  : ""))
            : Error::Transient("host_busy", fmt::format("{}: next token of its rate limit in {} ms",
                                                        bucket->bucket, permit->wait.count()));
    return WithRetryAfter(std::move(e), std::max(permit->wait, milliseconds(1)));
  }
  if (permit->wait.count() > 0) {
    Metrics().waits->Labels({bucket->bucket}).Inc();
    const auto until = std::chrono::steady_clock::now() + permit->wait;
    while (std::chrono::steady_clock::now() < until) {
      if (should_stop && should_stop()) {
        return Error::Transient("canceled",
                                "stopped while waiting for a token of " + bucket->bucket);
      }
      std::this_thread::sleep_for(std::min<milliseconds>(
          milliseconds(100),
          std::chrono::duration_cast<milliseconds>(until - std::chrono::steady_clock::now())));
    }
  }
  return OkStatus();
}

Error HostLimits::Observe(std::string_view url, Error error, const std::string& job_id) {
  milliseconds block{0};
  if (error.code == "bot_check") {
    block = config_.block_bot_check;
    Metrics().bot_checks->Inc();
  } else if (error.code == "rate_limited") {
    block = config_.block_429;
  } else {
    return error;
  }
  const auto bucket = BucketForUrl(config_, url);
  if (!bucket || block.count() <= 0) return error;
  if (auto st = Block(bucket->bucket, block, error.code); !st.ok()) {
    spdlog::warn("could not block {} after {}: {}", bucket->bucket, error.code,
                 st.error().ToString());
  } else {
    Metrics().blocks->Labels({bucket->bucket, error.code}).Inc();
    spdlog::warn("{} blocked for every worker for {} s after {}", bucket->bucket,
                 block.count() / 1000, error.code);
    error.message += fmt::format("; {} is blocked for every worker for {} s", bucket->bucket,
                                 (block.count() + 999) / 1000);
  }
  if (error.code == "bot_check") {
    WarnBotCheck(job_id, bucket->bucket);
    if (error.message.find("YTDLP_COOKIES_FILE") == std::string::npos) {
      error.message += "; the host wants cookies or a proxy: set YTDLP_COOKIES_FILE or YTDLP_PROXY";
    }
  }
  return WithRetryAfter(std::move(error), block);
}

std::shared_ptr<SharedHostLimits> SharedHostLimits::FromEnv(ConfigReader& env) {
  auto shared = std::shared_ptr<SharedHostLimits>(new SharedHostLimits());
  auto config = HostLimitsConfig::FromEnv(env);
  // The runner reads and reports the database settings; a second reader keeps their problems
  // from being listed twice.
  ConfigReader pg_env;
  shared->pool_ = std::make_unique<pg::ConnectionPool>(pg::PgConfig::FromEnv(pg_env), 2);
  shared->limits_ = std::make_unique<HostLimits>(*shared->pool_, std::move(config));
  return shared;
}

}  // namespace chansum::stage
