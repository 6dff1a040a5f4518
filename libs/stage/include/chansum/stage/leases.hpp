#pragma once
// Lease renewal for long work. The Processor registers what it claimed (a video stage, or a job in
// discovery) while its handler runs; a separate thread of the runner (never the AMQP I/O thread)
// calls RenewOnce every lease/3 on its own PostgreSQL connection, so a live worker never loses its
// lease however long the handler takes, and the orchestrator's sweeper re-enqueues only work whose
// worker died or stalled (see services/orchestrator/src/reliability.hpp).
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

namespace chansum::stage {

class LeaseKeeper {
 public:
  LeaseKeeper(std::string worker, int lease_seconds)
      : worker_(std::move(worker)), lease_seconds_(lease_seconds) {}

  void AddVideo(const std::string& job_id, const std::string& video_id);
  void RemoveVideo(const std::string& job_id, const std::string& video_id);
  void AddJob(const std::string& job_id);
  void RemoveJob(const std::string& job_id);
  [[nodiscard]] int Held() const;

  // Renews every held lease in one transaction; returns the rows renewed. Throws what libpqxx
  // throws (the caller reconnects).
  int RenewOnce(pqxx::connection& conn);
  // Gives back every held lease (store::ReleaseLeases): called at shutdown for handlers abandoned
  // past the bound, before their deliveries are requeued. Returns the rows released.
  int ReleaseAll(pqxx::connection& conn);
  // How often to renew: a third of the lease, at least 1 s.
  [[nodiscard]] std::chrono::milliseconds Interval() const;

 private:
  // What is held now, copied under the lock: (videos, jobs).
  [[nodiscard]] std::pair<std::vector<std::pair<std::string, std::string>>,
                          std::vector<std::string>>
  Snapshot() const;

  std::string worker_;
  int lease_seconds_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, int> videos_;  // counted: duplicates in flight
  std::map<std::string, int> jobs_;
};

// Registers a claim for the lifetime of the guard.
class LeaseGuard {
 public:
  LeaseGuard(LeaseKeeper* keeper, std::string job_id, std::string video_id);
  ~LeaseGuard();
  LeaseGuard(const LeaseGuard&) = delete;
  LeaseGuard& operator=(const LeaseGuard&) = delete;

 private:
  LeaseKeeper* keeper_;
  std::string job_id_, video_id_;
};

}  // namespace chansum::stage
