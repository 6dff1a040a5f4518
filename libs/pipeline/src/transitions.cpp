// The stage transitions of videos (batched) and of discovery.
#include <cstdio>
#include <set>

#include "chansum/pipeline/pipeline.hpp"
#include "chansum/store/live.hpp"
#include "chansum/store/reliability.hpp"
#include "chansum/store/subscriptions.hpp"
#include "chansum/store/sync.hpp"

namespace chansum::pipeline {
namespace {

using protocol::Command;
using protocol::EventType;
using protocol::Stage;

std::string FormatDelay(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

// The job's trace id (the command carries the same one unless a client sent its own).
const std::string& Trace(const VideoWork& w) {
  return w.claim.job_trace_id.empty() ? w.cmd.trace_id : w.claim.job_trace_id;
}

std::vector<store::VideoKey> Keys(const std::vector<VideoWork>& batch) {
  std::vector<store::VideoKey> keys;
  keys.reserve(batch.size());
  for (const auto& w : batch) keys.push_back({w.cmd.job_id, w.cmd.video_id});
  return keys;
}

bool Pending(const VideoWork& w) {
  return w.claim.outcome == store::Begin::kProceed && w.result.has_value();
}

std::string Retrying(int next_attempt, int max_attempts, std::chrono::milliseconds delay,
                     const Error& error) {
  return "retry " + std::to_string(next_attempt) + "/" + std::to_string(max_attempts) + " in " +
         FormatDelay(delay) + ": " + error.ToString();
}

}  // namespace

void ClaimVideos(pqxx::work& txn, Stage stage, std::vector<VideoWork>& batch,
                 const std::string& worker, int lease_seconds, bool in_place) {
  auto claims = store::ClaimVideoStages(txn, Keys(batch), stage, worker, lease_seconds, in_place);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& w = batch[i];
    w.claim = std::move(claims[i]);
    if (w.claim.outcome == store::Begin::kProceed) continue;
    // A video of a cancelled job still pending (e.g. discovery raced the cancel): skipped.
    if (w.claim.outcome == store::Begin::kJobClosed) {
      store::SkipVideoOfCancelledJob(txn, w.cmd.job_id, w.cmd.video_id);
    }
    w.kind = "skipped";
    w.summary = std::string("skipped: ") + store::ToString(w.claim.outcome);
  }
}

void KeepHeldVideos(pqxx::work& txn, Stage stage, std::vector<VideoWork>& batch,
                    const std::string& worker) {
  std::vector<std::size_t> index;
  std::vector<store::VideoKey> keys;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!Pending(batch[i])) continue;
    index.push_back(i);
    keys.push_back({batch[i].cmd.job_id, batch[i].cmd.video_id});
  }
  const auto held = store::HeldVideoLeases(txn, keys, stage, worker);
  for (std::size_t k = 0; k < index.size(); ++k) {
    if (held[k]) continue;
    auto& w = batch[index[k]];
    w.result.reset();
    // The sweeper may have given this work to another worker after our lease expired (we
    // stalled): then the other worker owns the outcome and ours is dropped. A cancel that
    // committed meanwhile also took the lease: that work counts as skipped.
    if (store::IsJobCancelled(txn, w.cmd.job_id, /*lock=*/false)) {
      w.kind = "skipped";
      w.summary = "skipped: job cancelled";
    } else {
      w.kind = "duplicate";
      w.summary = "duplicate: this worker no longer holds the lease of this stage";
    }
  }
}

void RecordVideoOutcomes(pqxx::work& txn, Effects& effects, const RetryPolicy& policy, Stage stage,
                         std::vector<VideoWork>& batch, bool in_place) {
  // 1. Every success in one statement.
  std::vector<std::size_t> ok_index;
  std::vector<std::pair<store::VideoKey, store::StageDone>> completions;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& w = batch[i];
    if (!Pending(w) || !w.result->ok()) continue;
    const auto& out = **w.result;
    store::StageDone done;
    done.next_stage = out.next_stage ? out.next_stage : protocol::NextStage(stage);
    done.media_path = out.media_path;
    done.audio_path = out.audio_path;
    done.attempts = w.claim.attempts;
    ok_index.push_back(i);
    completions.emplace_back(store::VideoKey{w.cmd.job_id, w.cmd.video_id}, done);
  }
  const auto completed = store::CompleteVideoStages(txn, stage, completions, in_place);
  std::map<std::string, std::string> jobs_to_finish;
  for (std::size_t k = 0; k < ok_index.size(); ++k) {
    auto& w = batch[ok_index[k]];
    const auto& out = **w.result;
    const auto& next_stage = completions[k].second.next_stage;
    if (!completed[k]) {
      w.kind = "duplicate";
      w.summary = "duplicate: another delivery already finished this stage";
      continue;
    }
    if (out.next_stage) {  // stages jumped over (e.g. captions make ASR unnecessary)
      std::vector<Stage> skipped;
      for (auto s = protocol::NextStage(stage); s && s != out.next_stage;
           s = protocol::NextStage(*s)) {
        skipped.push_back(*s);
      }
      store::RecordSkippedStages(txn, w.cmd.job_id, w.cmd.video_id, skipped, out.skip_reason);
    }
    if (auto type = protocol::StageCompletedEvent(stage)) {
      effects.Event(*type, w.cmd.job_id, w.cmd.video_id, Trace(w),
                    StageEventData(stage, out.event_data, w.ms));
    }
    w.kind = "done";
    if (next_stage) {
      effects.Command(protocol::NewCommand(*next_stage, w.cmd.job_id, w.cmd.video_id,
                                           w.cmd.trace_id, out.next_data));
      w.summary = "done in " + std::to_string(w.ms) +
                  " ms, next: " + std::string(protocol::StageName(*next_stage));
    } else {
      jobs_to_finish.emplace(w.cmd.job_id, Trace(w));
      w.summary = "video done in " + std::to_string(w.ms) + " ms";
    }
  }
  // 2. Failures: retried while attempts are left and the error may pass, else failed for good.
  for (auto& w : batch) {
    if (!Pending(w) || w.result->ok()) continue;
    const Error& error = w.result->error();
    if (error.transient() && w.claim.attempts < policy.max_attempts) {
      if (!store::RetryVideoStage(txn, w.cmd.job_id, w.cmd.video_id, stage, error,
                                  in_place ? w.claim.attempts : 0)) {
        w.kind = "duplicate";
        w.summary = "duplicate: another delivery already settled this stage";
        continue;
      }
      // Same command, next attempt, parked in "<queue>.retry" until its TTL sends it back.
      const auto delay = RetryDelay(policy, w.claim.attempts, error);
      effects.Command(protocol::NewCommand(stage, w.cmd.job_id, w.cmd.video_id, w.cmd.trace_id,
                                           w.cmd.data, w.claim.attempts + 1),
                      ".retry", static_cast<int>(delay.count()));
      w.kind = "retried";
      w.summary = Retrying(w.claim.attempts + 1, policy.max_attempts, delay, error);
      continue;
    }
    if (store::FailVideo(txn, w.cmd.job_id, w.cmd.video_id, stage, error,
                         in_place ? w.claim.attempts : 0)) {
      effects.VideoFailed(w.cmd.job_id, w.cmd.video_id, Trace(w), stage, error,
                          std::max(1, w.claim.attempts));
    }
    jobs_to_finish.emplace(w.cmd.job_id, Trace(w));
    w.kind = "failed";
    w.summary = "video failed: " + error.ToString();
  }
  // 3. The jobs whose last video just settled.
  const auto ended = FinishJobs(txn, effects, jobs_to_finish);
  for (auto& w : batch) {
    auto it = ended.find(w.cmd.job_id);
    if (it != ended.end() &&
        (std::string_view(w.kind) == "done" || std::string_view(w.kind) == "failed")) {
      if (w.summary.find(", job ") == std::string::npos) w.summary += ", job " + it->second;
    }
  }
}

store::Claim ClaimDiscovery(pqxx::work& txn, const std::string& job_id, const std::string& worker,
                            int lease_seconds) {
  auto claim = store::BeginDiscovery(txn, job_id, worker);
  if (claim.outcome == store::Begin::kProceed) {
    // Discovery leases its job, so the sweeper can re-enqueue it if this worker dies.
    store::ClaimDiscoveryLease(txn, job_id, worker, lease_seconds);
  }
  return claim;
}

namespace {

// subscription.checked for a check that just ended, in the transaction that records it.
void EmitSubscriptionChecked(Effects& effects, const store::CheckOfJob& check,
                             const std::string& job_id, const std::string& trace_id,
                             const std::string& outcome, int new_videos, const std::string& error,
                             const std::string& listing = "full") {
  effects.Event(EventType::kSubscriptionChecked, job_id, "", trace_id,
                {{"subscription_id", check.subscription_id},
                 {"check_id", check.check_id},
                 {"outcome", outcome},
                 {"new_videos", new_videos},
                 {"started_job_id",
                  outcome == "new_videos" ? nlohmann::json(job_id) : nlohmann::json(nullptr)},
                 {"listing", listing},
                 {"error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error)}});
}

// The feed pre-check's facts of a discovery (StageOutput::check_facts) as the check records them.
store::CheckFeed CheckFeedOf(const nlohmann::json& facts) {
  store::CheckFeed feed;
  if (!facts.is_object()) return feed;
  feed.listing = facts.value("listing", "full");
  feed.feed_note = facts.value("feed_note", "");
  feed.channel_id = facts.value("channel_id", "");
  if (auto ids = facts.find("feed_video_ids"); ids != facts.end() && ids->is_array()) {
    feed.feed_video_ids = ids->get<std::vector<std::string>>();
  }
  return feed;
}

// Decides a subscription check: counts the listed videos that are new to the subscription (no
// stored results, not settled by an earlier check — failed, or expired by keep_days: those are
// marked reused with the reason)
// and ends the check `job_started` with that count when there is one. Returns the count (0:
// nothing new, the check is not ended here).
int KeepSubscriptionJob(pqxx::work& txn, const store::CheckOfJob& check,
                        std::vector<store::DiscoveredVideo>& discovered) {
  std::vector<std::string> candidates;
  for (const auto& v : discovered) {
    if (v.reuse_reason.empty()) candidates.push_back(v.video_id);
  }
  const auto settled = store::VideosSettledInSubscription(txn, check.subscription_id, candidates);
  std::set<std::string> fresh;
  for (auto& v : discovered) {
    if (!v.reuse_reason.empty()) continue;
    if (auto it = settled.find(v.video_id); it != settled.end()) {
      v.reuse_reason = it->second;
      continue;
    }
    fresh.insert(v.video_id);
  }
  if (fresh.empty()) return 0;
  store::FinishSubscriptionCheck(txn, check.check_id, "job_started", static_cast<int>(fresh.size()),
                                 "");
  return static_cast<int>(fresh.size());
}

}  // namespace

void FailDiscoveryJob(pqxx::work& txn, Effects& effects, const std::string& job_id,
                      const std::string& trace_id, const Error& error) {
  store::FailJob(txn, job_id, error);
  if (auto check = store::FailSubscriptionCheckOfJob(txn, job_id, error.ToString())) {
    EmitSubscriptionChecked(effects, *check, job_id, trace_id, "failed", 0, error.ToString());
  }
  EmitJobCompleted(txn, effects, job_id, trace_id);  // state "failed"
}

bool RecordDiscovery(pqxx::work& txn, Effects& effects, const RetryPolicy& policy,
                     const std::string& worker, VideoWork& work) {
  const Command& cmd = work.cmd;
  // The job row locked first: a cancel that committed meanwhile wins, one that comes later waits
  // and then skips the videos recorded here.
  if (store::IsJobCancelled(txn, cmd.job_id, /*lock=*/true)) {
    work.kind = "skipped";
    work.summary = "skipped: job cancelled during discovery";
    return false;
  }
  if (!store::HoldsDiscoveryLease(txn, cmd.job_id, worker)) {
    work.kind = "duplicate";
    work.summary = "duplicate: this worker no longer holds the discovery lease";
    return false;
  }
  auto& result = *work.result;
  if (result.ok()) {
    store::ReleaseDiscoveryLease(txn, cmd.job_id);
    // A subscription check (issue 15): its job is kept only when the listing has a video that
    // is new to the subscription; otherwise the check records that and the job is deleted here,
    // before any event or command for it exists.
    if (auto check = store::FindRunningCheck(txn, cmd.job_id)) {
      const auto feed = CheckFeedOf(result->check_facts);
      store::RecordCheckFeed(txn, *check, feed);
      // The feed showed nothing new: no listing ran, nothing to compare.
      const int fresh =
          feed.listing == "feed" ? 0 : KeepSubscriptionJob(txn, *check, result->discovered);
      EmitSubscriptionChecked(effects, *check, cmd.job_id, Trace(work),
                              fresh > 0 ? "new_videos" : "no_new_videos", fresh, "", feed.listing);
      if (fresh == 0) {
        store::FinishSubscriptionCheck(txn, check->check_id, "no_new_videos", 0, "");
        store::DeleteJob(txn, cmd.job_id);
        work.kind = "done";
        work.summary = feed.listing == "feed"
                           ? "subscription check: the feed shows nothing new, no listing, no job"
                           : "subscription check: no new video among " +
                                 std::to_string(result->discovered.size()) + ", no job kept";
        return true;
      }
    }
    auto inserted = store::RecordDiscovery(txn, cmd.job_id, result->discovered);
    // Position in the listing as RecordDiscovery numbered it (first occurrence of an id).
    std::map<std::string, int> positions;
    for (std::size_t i = 0; i < result->discovered.size(); ++i) {
      positions.emplace(result->discovered[i].video_id, static_cast<int>(i));
    }
    for (const auto& v : inserted) {
      effects.Event(EventType::kVideoDiscovered, cmd.job_id, v.video_id, Trace(work),
                    {{"title", v.title},
                     {"url", v.url},
                     {"duration_s", v.duration_s ? nlohmann::json(*v.duration_s) : nullptr},
                     {"published_at", v.published_at.empty() ? nlohmann::json(nullptr)
                                                             : nlohmann::json(v.published_at)},
                     {"position", positions[v.video_id]}});
      // Incremental sync: results stored by an earlier job are reused, no stage runs.
      if (!v.reuse_reason.empty() &&
          store::MarkVideoReused(txn, cmd.job_id, v.video_id, v.reuse_reason)) {
        continue;
      }
      // A listed URL the fetch policy refuses (SSRF): recorded as failed, with the reason.
      if (v.refused) {
        if (store::FailVideo(txn, cmd.job_id, v.video_id, Stage::kDownload, *v.refused)) {
          effects.VideoFailed(cmd.job_id, v.video_id, Trace(work), Stage::kDownload, *v.refused, 0);
        }
        continue;
      }
      nlohmann::json data = {{"url", v.url}};
      if (!v.title.empty()) data["title"] = v.title;
      effects.Command(protocol::NewCommand(Stage::kDownload, cmd.job_id, v.video_id, cmd.trace_id,
                                           std::move(data)));
    }
    FinishJobs(txn, effects, {{cmd.job_id, Trace(work)}});  // a channel with no videos is done
    work.kind = "done";
    work.summary = "discovered " + std::to_string(result->discovered.size()) + " videos in " +
                   std::to_string(work.ms) + " ms";
  } else if (result.error().transient() && cmd.attempt < policy.max_attempts) {
    const auto delay = RetryDelay(policy, cmd.attempt, result.error());
    store::ReleaseDiscoveryLease(txn, cmd.job_id);  // the retry command carries it on
    effects.Command(protocol::NewCommand(cmd.stage, cmd.job_id, cmd.video_id, cmd.trace_id,
                                         cmd.data, cmd.attempt + 1),
                    ".retry", static_cast<int>(delay.count()));
    work.kind = "retried";
    work.summary = Retrying(cmd.attempt + 1, policy.max_attempts, delay, result.error());
  } else {
    FailDiscoveryJob(txn, effects, cmd.job_id, Trace(work), result.error());
    work.kind = "failed";
    work.summary = "job failed: " + result.error().ToString();
  }
  return true;
}

}  // namespace chansum::pipeline
