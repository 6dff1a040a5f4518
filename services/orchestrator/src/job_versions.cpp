#include "job_versions.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "chansum/service/backoff.hpp"

namespace chansum::orchestrator {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxLoadsPerStep = 1000;
constexpr std::size_t kMaxWanted = 10000;

std::int64_t Ticks(Clock::time_point t) { return t.time_since_epoch().count(); }

// FNV-1a, 64 bits: the same on every replica and build (std::hash is not).
std::uint64_t Fnv1a(const std::string& text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string Hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Bumped when the JSON of GET /jobs/{id} changes shape, so that a new deployment never confirms a
// body an older one produced.
constexpr const char* kViewFormat = "v1";

}  // namespace

std::string JobViewEtag(const std::string& job_id, const store::JobVersion& version, int limit,
                        const std::string& cursor) {
  // The version itself, exactly; the job and the page as a hash (their URL names them already).
  return "\"" + std::string(kViewFormat) + "-" + std::to_string(version.changes) + "-" +
         Hex(version.seq_sum) + "-" + std::to_string(limit) + "-" +
         Hex(Fnv1a(job_id + "\n" + cursor)) + "\"";
}

bool IfNoneMatchLists(const std::string& if_none_match, const std::string& etag) {
  std::size_t i = 0;
  while (i < if_none_match.size()) {
    while (i < if_none_match.size() &&
           (if_none_match[i] == ' ' || if_none_match[i] == '\t' || if_none_match[i] == ',')) {
      ++i;
    }
    if (if_none_match.compare(i, 2, "W/") == 0) i += 2;
    if (i >= if_none_match.size() || if_none_match[i] != '"') {
      // Not an entity tag: skip to the next comma.
      while (i < if_none_match.size() && if_none_match[i] != ',') ++i;
      continue;
    }
    const auto end = if_none_match.find('"', i + 1);
    if (end == std::string::npos) return false;
    if (if_none_match.compare(i, end + 1 - i, etag) == 0) return true;
    i = end + 1;
  }
  return false;
}

JobVersions::JobVersions(Connect connect, JobVersionOptions options)
    : connect_(std::move(connect)), options_(options) {}

std::optional<store::JobVersion> JobVersions::Current(const std::string& job_id) {
  const auto now = Clock::now();
  {
    std::shared_lock lock(mutex_);
    auto it = entries_.find(job_id);
    if (it != entries_.end()) {
      it->second->last_used.store(Ticks(now), std::memory_order_relaxed);
      if (fresh_as_of_ != 0 &&
          Ticks(now) - fresh_as_of_ <= Clock::duration(options_.max_lag).count()) {
        return it->second->version;
      }
      return std::nullopt;  // known, but the feed is behind: read the database
    }
    if (wanted_.count(job_id) > 0) return std::nullopt;
  }
  std::unique_lock lock(mutex_);
  if (wanted_.size() < kMaxWanted) wanted_.insert(job_id);
  return std::nullopt;
}

std::size_t JobVersions::size() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

void JobVersions::Reset() {
  std::unique_lock lock(mutex_);
  entries_.clear();
  fresh_as_of_ = 0;
  snapshot_.clear();
}

void JobVersions::Evict(Clock::time_point now) {
  // Caller holds the unique lock.
  const auto idle_before = Ticks(now - options_.idle_evict);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second->last_used.load(std::memory_order_relaxed) < idle_before) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  if (entries_.size() <= options_.max_jobs) return;
  std::vector<std::pair<std::int64_t, std::string>> by_use;
  by_use.reserve(entries_.size());
  for (const auto& [id, e] : entries_) {
    by_use.emplace_back(e->last_used.load(std::memory_order_relaxed), id);
  }
  const std::size_t drop = entries_.size() - options_.max_jobs * 9 / 10;
  std::nth_element(by_use.begin(), by_use.begin() + static_cast<long>(drop), by_use.end());
  for (std::size_t i = 0; i < drop; ++i) entries_.erase(by_use[i].second);
}

Status JobVersions::Step() {
  const auto started = Clock::now();
  std::vector<std::string> load;
  bool idle = false;
  {
    std::unique_lock lock(mutex_);
    const bool maintenance = started >= next_maintenance_;
    if (maintenance) {
      next_maintenance_ = started + std::chrono::seconds(1);
      Evict(started);
    }
    for (auto it = wanted_.begin(); it != wanted_.end() && load.size() < kMaxLoadsPerStep;) {
      if (entries_.count(*it) == 0) load.push_back(*it);
      it = wanted_.erase(it);
    }
    if (maintenance) {
      for (const auto& [id, e] : entries_) {
        if (load.size() >= kMaxLoadsPerStep) break;
        if (started - e->loaded_at >= options_.reload_after) load.push_back(id);
      }
    }
    idle = entries_.empty() && load.empty();
    if (idle) fresh_as_of_ = 0;
  }
  if (idle) {
    // Nobody is polling: no queries. The next step starts a new chain with its own snapshot.
    snapshot_.clear();
    return OkStatus();
  }
  store::ChangeFeedStep step;
  try {
    if (!conn_ || !conn_->is_open()) conn_ = connect_();
    pqxx::nontransaction tx(*conn_);
    step = store::FollowJobChanges(tx, snapshot_, load);
  } catch (const std::exception& e) {
    conn_.reset();
    Reset();
    return Error::Transient("job_versions", e.what());
  }
  std::unique_lock lock(mutex_);
  std::unordered_set<std::string> loaded_now;
  for (auto& [id, version] : step.loaded) {
    auto& entry = entries_[id];
    if (!entry) {
      entry = std::make_unique<Entry>();
      entry->last_used.store(Ticks(started), std::memory_order_relaxed);
    }
    entry->version = version;
    entry->loaded_at = started;
    loaded_now.insert(id);
  }
  // The rows of this step are already in the versions loaded by it (same snapshot).
  for (const auto& [id, seq] : step.changes) {
    if (loaded_now.count(id) > 0) continue;
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    it->second->version.changes += 1;
    it->second->version.seq_sum += static_cast<std::uint64_t>(seq);
  }
  // A step that started a new chain only knows the jobs it loaded.
  if (snapshot_.empty()) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = loaded_now.count(it->first) > 0 ? std::next(it) : entries_.erase(it);
    }
  }
  snapshot_ = step.snapshot;
  fresh_as_of_ = Ticks(started);
  return OkStatus();
}

void JobVersions::Run(const std::atomic<bool>& stop) {
  service::Backoff backoff(std::chrono::milliseconds(100), std::chrono::seconds(5),
                           [&stop] { return stop.load(); });
  while (!stop.load()) {
    const auto started = Clock::now();
    auto st = Step();
    auto next = started + options_.poll_interval;
    if (!st.ok()) {
      spdlog::warn("job versions feed: {} (GET /jobs/{{id}} reads the database meanwhile)",
                   st.error().message);
      next = Clock::now() + backoff.Next();
    } else {
      backoff.Reset();
    }
    while (!stop.load() && Clock::now() < next) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(next - Clock::now(), std::chrono::milliseconds(50)));
    }
  }
}

}  // namespace chansum::orchestrator
