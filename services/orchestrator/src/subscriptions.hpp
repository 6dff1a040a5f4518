#pragma once
// Subscriptions (issue 15 §1, §3): request parsing (pure, unit-tested), the scheduler tick and the
// /subscriptions routes. A subscription check is a job whose discovery decides whether anything
// is new (libs/pipeline RecordDiscovery keeps the job only then); see docs/architecture.md.
#include <optional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api.hpp"
#include "chansum/common/result.hpp"
#include "chansum/media/feed.hpp"
#include "chansum/store/subscriptions.hpp"
#include "job_request.hpp"

namespace chansum::orchestrator {

inline constexpr int kDefaultEverySeconds = 6 * 3600;
inline constexpr int kMaxEverySeconds = 30 * 86400;
inline constexpr int kMaxKeepDays = 36500;

// "90s", "15m", "6h", "1d", "1h30m" -> seconds; nullopt when malformed or zero.
[[nodiscard]] std::optional<int> ParseEvery(const std::string& text);
// "now" -> `now` (RFC 3339 UTC, seconds); a date or UTC time as POST /jobs' published_after.
[[nodiscard]] std::optional<std::string> NormalizeSince(const std::string& text,
                                                        const std::string& now);

// A validated POST /subscriptions body.
struct SubscriptionRequest {
  JobRequest job;  // channel and filters, validated exactly as POST /jobs
  int every_s = kDefaultEverySeconds;
  std::string since;  // RFC 3339 UTC: the checks' published_after
  std::optional<int> keep_days;
  bool paused = false;
};
// {"channel", "every", "since", "max_videos", "max_duration_s", "keep_days", "paused"}: unknown
// fields, a bad interval (below `min_every_s` or above 30 days) or a bad filter are refused with
// the API error codes of POST /jobs.
[[nodiscard]] Result<SubscriptionRequest> ParseSubscriptionRequest(const std::string& body,
                                                                   int min_every_s,
                                                                   const std::string& now);

// A validated PATCH body: each field optional; `options` is the stored options with the changes
// merged (max_videos, since -> published_after, max_duration_s, keep_days; null clears the last
// two).
struct SubscriptionChange {
  std::optional<int> every_s;
  std::optional<bool> paused;
  nlohmann::json options_patch = nlohmann::json::object();  // keys to set (null: remove)
};
[[nodiscard]] Result<SubscriptionChange> ParseSubscriptionPatch(const std::string& body,
                                                                int min_every_s,
                                                                const std::string& now);
// The stored options with `patch` applied.
[[nodiscard]] nlohmann::json MergeOptions(nlohmann::json options, const nlohmann::json& patch);
// The options stored for a new subscription (the filters every check's job gets, keep_days).
[[nodiscard]] nlohmann::json SubscriptionOptions(const SubscriptionRequest& req);

// The cheap check before a full listing (issue 15 §1): SUBSCRIPTION_FEED_PRECHECK (default on)
// and SUBSCRIPTION_FEED_URL (the Atom feed of a channel id, "{channel_id}" replaced; default
// YouTube's feeds/videos.xml?channel_id=…).
struct FeedPrecheck {
  bool enabled = true;
  std::string url_template = media::kYouTubeFeedUrl;
};
// What a check's discovery command carries about the feed (data.feed; stored in the job's
// options so a re-enqueued discovery reads the same): {"url", "seen", "note"} — the feed URL of
// the channel id remembered or in the channel URL (else null and a note why), and the video ids
// the feed showed at the last check that read it (null before). Null when the pre-check is off.
[[nodiscard]] nlohmann::json FeedCheckData(const store::DueSubscription& due,
                                           const FeedPrecheck& feed);

// One scheduler tick: claims up to `limit` due subscriptions (FOR UPDATE SKIP LOCKED) and starts a
// check for each (a provisional job and its discovery command, in the same transaction). Returns
// the number of checks started.
[[nodiscard]] Result<int> CheckDueSubscriptions(const TxnRunner& txn,
                                                const std::string& queue_prefix,
                                                const std::string& worker, int limit = 20,
                                                const FeedPrecheck& feed = {});

// Retention (§3): deletes the transcripts and summaries whose subscription's keep_days passed
// (store::ClaimExpiredVideoDocuments), at most `limit` videos, and marks their rows in the same
// transaction: a document store failure rolls the marks back, so the next round tries again.
// Returns the number of videos whose documents were deleted.
[[nodiscard]] Result<int> ExpireSubscriptionDocuments(const TxnRunner& txn,
                                                      docstore::DocStore& docs, int limit = 100);

// POST/GET /subscriptions, GET/PATCH/DELETE /subscriptions/{id} (the shortest interval accepted:
// deps.subscription_min_every_s).
void RegisterSubscriptionRoutes(httplib::Server& server, const ApiDeps& deps);

}  // namespace chansum::orchestrator
