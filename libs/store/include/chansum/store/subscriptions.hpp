#pragma once
// Issue 15: subscriptions (a channel followed over time) and their checks
// (migrations/0014_subscriptions.sql). Same rules as store.hpp: the caller's transaction, quick
// statements only.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace chansum::store {

struct NewSubscription {
  std::string id;
  std::string channel;
  std::string channel_url;
  int every_s = 6 * 3600;
  // Job filters every check uses (max_videos, published_after, max_duration_s) and keep_days.
  nlohmann::json options = nlohmann::json::object();
  std::string queue_prefix;  // the deployment whose orchestrators check it
};
// Inserts it; one subscription per channel URL: returns the id of the one that already follows
// the channel (nothing inserted), or "" when inserted.
[[nodiscard]] std::string InsertSubscription(pqxx::work& txn, const NewSubscription& sub);

// Newest first, at most `limit`: the summary of each subscription (no check history).
[[nodiscard]] nlohmann::ordered_json ListSubscriptions(pqxx::work& txn, int limit);
// One subscription: its settings, last and next check, the jobs its checks started (newest
// first), its last error and its latest `max_checks` checks. nullopt: no such subscription.
[[nodiscard]] std::optional<nlohmann::ordered_json> GetSubscription(pqxx::work& txn,
                                                                    const std::string& id,
                                                                    int max_checks = 20);

struct SubscriptionPatch {
  std::optional<int> every_s;
  std::optional<bool> paused;
  std::optional<nlohmann::json> options;  // replaces the stored options when set
};
// Applies the patch; a new interval moves the next check to last check + interval (now at the
// earliest). False when there is no such subscription.
bool UpdateSubscription(pqxx::work& txn, const std::string& id, const SubscriptionPatch& patch);
// Deletes the subscription and its check history (jobs it started are kept). False: not found.
bool DeleteSubscription(pqxx::work& txn, const std::string& id);
// The stored options of a subscription (PATCH merges into them); nullopt: not found. Locks it.
[[nodiscard]] std::optional<nlohmann::json> LockSubscriptionOptions(pqxx::work& txn,
                                                                    const std::string& id);

// ------------------------------------------------------------------------------ scheduler
struct DueSubscription {
  std::string id;
  std::string channel;
  std::string channel_url;
  int every_s = 0;
  nlohmann::json options = nlohmann::json::object();
  std::string channel_id;  // remembered UC… id ("" when unknown)
  // The video ids the channel's feed showed at the last check that read it (0016).
  std::optional<std::vector<std::string>> feed_video_ids;
};
// Locks up to `limit` subscriptions that are due (next_check_at <= now(), not paused) and have no
// check or job still in progress, oldest due first, FOR UPDATE SKIP LOCKED: another scheduler
// takes the others, and none sees these until this transaction ends. Only the subscriptions
// created by orchestrators with this `queue_prefix` (the same deployment).
[[nodiscard]] std::vector<DueSubscription> ClaimDueSubscriptions(pqxx::work& txn, int limit,
                                                                 const std::string& queue_prefix);
// Records the check `check_id` (its provisional job `job_id` must be inserted first, in the same
// transaction) and moves the next check to now() + every: one check however many intervals
// passed.
void StartSubscriptionCheck(pqxx::work& txn, const DueSubscription& sub,
                            const std::string& check_id, const std::string& job_id,
                            const std::string& checked_by);

// ------------------------------------------------------------------------------ discovery
struct CheckOfJob {
  std::string check_id;
  std::string subscription_id;
  nlohmann::json options = nlohmann::json::object();  // the subscription's options
};
// The running check whose provisional job is `job_id`, locked; nullopt for an ordinary job.
[[nodiscard]] std::optional<CheckOfJob> FindRunningCheck(pqxx::work& txn,
                                                         const std::string& job_id);
// Of `video_ids`, those an earlier check of the subscription settled for good, with the reason
// they are not new: failed in its job ("failed in an earlier subscription check"; a video removed
// upstream would otherwise start a job every check) or processed and expired by keep_days
// ("documents expired (keep_days)"; it would otherwise be processed again).
[[nodiscard]] std::map<std::string, std::string> VideosSettledInSubscription(
    pqxx::work& txn, const std::string& subscription_id, const std::vector<std::string>& video_ids);
// Ends a check: state "no_new_videos" | "job_started" | "failed", with the new-video count and,
// for a failure, the error.
void FinishSubscriptionCheck(pqxx::work& txn, const std::string& check_id, const std::string& state,
                             int new_videos, const std::string& error);
// A failed discovery of `job_id`: ends its running check (if any) as failed with `error`.
// Returns the check (its id and subscription id; no options) when there was one.
std::optional<CheckOfJob> FailSubscriptionCheckOfJob(pqxx::work& txn, const std::string& job_id,
                                                     const std::string& error);
// What a check learnt about the channel's feed (migration 0016): `listing` "full" or "feed" and
// `feed_note` (why the feed did not decide; "" for none) on the check; on the subscription the
// feed's video ids when the feed was read (nullopt: keep the stored ones) and the channel id when
// one was learnt ("" keeps the stored one).
struct CheckFeed {
  std::string listing = "full";
  std::string feed_note;
  std::optional<std::vector<std::string>> feed_video_ids;
  std::string channel_id;
};
void RecordCheckFeed(pqxx::work& txn, const CheckOfJob& check, const CheckFeed& feed);
// Stores the channel id of subscription `id` when it has none yet (e.g. named by its URL).
void RememberChannelId(pqxx::work& txn, const std::string& id, const std::string& channel_id);
// Deletes a provisional job that found nothing new (its videos go with it; the check keeps its
// row with job_id NULL).
void DeleteJob(pqxx::work& txn, const std::string& job_id);

// ------------------------------------------------------------------------------ retention
// Up to `limit` video ids whose documents expired (§3): every row of the video that is done or
// skipped and whose documents are not deleted yet belongs to a job of a subscription check with
// keep_days that finished more than keep_days ago. Those rows are locked (FOR UPDATE SKIP LOCKED:
// another orchestrator takes others) and marked documents_deleted_at = now(); the caller deletes
// the documents before it commits.
[[nodiscard]] std::vector<std::string> ClaimExpiredVideoDocuments(pqxx::work& txn, int limit);

}  // namespace chansum::store
