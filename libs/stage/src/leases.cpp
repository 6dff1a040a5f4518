#include "chansum/stage/leases.hpp"

#include <algorithm>
#include <vector>

#include "chansum/store/reliability.hpp"

namespace chansum::stage {

void LeaseKeeper::AddVideo(const std::string& job_id, const std::string& video_id) {
  std::lock_guard lock(mu_);
  ++videos_[{job_id, video_id}];
}

void LeaseKeeper::RemoveVideo(const std::string& job_id, const std::string& video_id) {
  std::lock_guard lock(mu_);
  auto it = videos_.find({job_id, video_id});
  if (it != videos_.end() && --it->second <= 0) videos_.erase(it);
}

void LeaseKeeper::AddJob(const std::string& job_id) {
  std::lock_guard lock(mu_);
  ++jobs_[job_id];
}

void LeaseKeeper::RemoveJob(const std::string& job_id) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(job_id);
  if (it != jobs_.end() && --it->second <= 0) jobs_.erase(it);
}

int LeaseKeeper::Held() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(videos_.size() + jobs_.size());
}

std::pair<std::vector<std::pair<std::string, std::string>>, std::vector<std::string>>
LeaseKeeper::Snapshot() const {
  std::pair<std::vector<std::pair<std::string, std::string>>, std::vector<std::string>> held;
  std::lock_guard lock(mu_);
  for (const auto& [key, _] : videos_) held.first.push_back(key);
  for (const auto& [key, _] : jobs_) held.second.push_back(key);
  return held;
}

int LeaseKeeper::RenewOnce(pqxx::connection& conn) {
  const auto [videos, jobs] = Snapshot();
  if (videos.empty() && jobs.empty()) return 0;
  pqxx::work txn(conn);
  int renewed = store::RenewVideoLeases(txn, videos, worker_, lease_seconds_);
  renewed += store::RenewJobLeases(txn, jobs, worker_, lease_seconds_);
  txn.commit();
  return renewed;
}

int LeaseKeeper::ReleaseAll(pqxx::connection& conn) {
  const auto [videos, jobs] = Snapshot();
  if (videos.empty() && jobs.empty()) return 0;
  pqxx::work txn(conn);
  const int released = store::ReleaseLeases(txn, videos, jobs, worker_);
  txn.commit();
  return released;
}

std::chrono::milliseconds LeaseKeeper::Interval() const {
  return std::max(std::chrono::milliseconds(1000),
                  std::chrono::milliseconds(lease_seconds_ * 1000L / 3));
}

LeaseGuard::LeaseGuard(LeaseKeeper* keeper, std::string job_id, std::string video_id)
    : keeper_(keeper), job_id_(std::move(job_id)), video_id_(std::move(video_id)) {
  if (!keeper_) return;
  if (video_id_.empty()) {
    keeper_->AddJob(job_id_);
  } else {
    keeper_->AddVideo(job_id_, video_id_);
  }
}

LeaseGuard::~LeaseGuard() {
  if (!keeper_) return;
  if (video_id_.empty()) {
    keeper_->RemoveJob(job_id_);
  } else {
    keeper_->RemoveVideo(job_id_, video_id_);
  }
}

}  // namespace chansum::stage
