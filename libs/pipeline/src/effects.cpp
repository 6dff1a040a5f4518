// Outbox rows of a transition, the job's end, retries and the facts of stage events.
#include <algorithm>
#include <cmath>
#include <random>

#include "chansum/outbox/events.hpp"
#include "chansum/pipeline/pipeline.hpp"

namespace chansum::pipeline {
namespace {

using protocol::EventType;
using protocol::Stage;

std::int64_t CountFact(const nlohmann::json& facts, const char* key) {
  if (!facts.is_object() || !facts.contains(key)) return 0;
  const auto& v = facts.at(key);
  if (v.is_number_unsigned()) return static_cast<std::int64_t>(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::max<std::int64_t>(0, v.get<std::int64_t>());
  if (v.is_number_float()) return std::max<std::int64_t>(0, std::llround(v.get<double>()));
  return 0;
}

double NumberFact(const nlohmann::json& facts, const char* key) {
  if (!facts.is_object() || !facts.contains(key) || !facts.at(key).is_number()) return 0.0;
  return std::max(0.0, facts.at(key).get<double>());
}

std::string StringFact(const nlohmann::json& facts, const char* key) {
  if (!facts.is_object() || !facts.contains(key) || !facts.at(key).is_string() ||
      facts.at(key).get_ref<const std::string&>().empty()) {
    return "unknown";
  }
  return facts.at(key).get<std::string>();
}

}  // namespace

std::chrono::milliseconds RetryDelay(const RetryPolicy& policy, int attempt) {
  thread_local std::mt19937 rng{std::random_device{}()};
  double d = static_cast<double>(policy.base_delay.count());
  for (int i = 1; i < attempt && d < static_cast<double>(policy.max_delay.count()); ++i) {
    d *= 2;
  }
  d = std::min(d, static_cast<double>(policy.max_delay.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<long>(d * jitter(rng)));
}

std::chrono::milliseconds RetryDelay(const RetryPolicy& policy, int attempt, const Error& error) {
  const auto backoff = RetryDelay(policy, attempt);
  return error.retry_after && *error.retry_after > backoff ? *error.retry_after : backoff;
}

int AttemptsWithin(std::chrono::milliseconds budget, std::chrono::milliseconds base,
                   std::chrono::milliseconds max_delay) {
  constexpr int kMost = 100;
  const double cap = static_cast<double>(std::max<std::int64_t>(1, max_delay.count()));
  double delay = std::min(static_cast<double>(std::max<std::int64_t>(1, base.count())), cap);
  double waited = 0;
  int attempts = 1;
  while (waited < static_cast<double>(budget.count()) && attempts < kMost) {
    waited += delay * 0.5;  // the shortest the jitter makes it
    delay = std::min(delay * 2, cap);
    ++attempts;
  }
  return std::max(2, attempts);
}

RetryPolicy RetryPolicyFromEnv(ConfigReader& env) {
  RetryPolicy p;
  p.base_delay = env.Duration("RETRY_BASE_DELAY", std::chrono::seconds(1));
  p.max_delay = env.Duration("RETRY_MAX_DELAY", std::chrono::seconds(60));
  const auto budget = env.Duration("RETRY_FOR", std::chrono::minutes(5));
  const auto explicit_attempts = env.Int("MAX_ATTEMPTS", 0, 0, 100);
  p.max_attempts = explicit_attempts > 0 ? static_cast<int>(explicit_attempts)
                                         : AttemptsWithin(budget, p.base_delay, p.max_delay);
  return p;
}

nlohmann::json StageEventData(Stage stage, const nlohmann::json& facts, std::int64_t duration_ms) {
  nlohmann::json data = {{"duration_ms", std::max<std::int64_t>(0, duration_ms)}};
  switch (stage) {
    case Stage::kDownload:
      data["bytes"] = CountFact(facts, "bytes");
      break;
    case Stage::kAudioExtraction:
      data["audio_seconds"] = NumberFact(facts, "audio_seconds");
      data["bytes"] = CountFact(facts, "bytes");
      break;
    case Stage::kTranscription:
      data["engine"] = StringFact(facts, "engine");
      data["segments"] = CountFact(facts, "segments");
      data["audio_seconds"] = NumberFact(facts, "audio_seconds");
      break;
    case Stage::kSummarization:
      data["engine"] = StringFact(facts, "engine");
      data["key_points"] = CountFact(facts, "key_points");
      data["summary_chars"] = CountFact(facts, "summary_chars");
      break;
    case Stage::kDiscovery:
      break;
  }
  return data;
}

void Effects::Command(const protocol::Command& cmd, const std::string& queue_suffix,
                      std::optional<int> expiration_ms) {
  outbox::Message m;
  m.destination = outbox::Destination::kAmqp;
  m.routing_key = protocol::QueueName(prefix_, cmd.stage) + queue_suffix;
  m.message_id = cmd.message_id;
  m.expiration_ms = expiration_ms;
  m.payload = protocol::Serialize(cmd);
  rows_.push_back(std::move(m));
}

void Effects::Event(EventType type, const std::string& job_id, const std::string& video_id,
                    const std::string& trace_id, nlohmann::json data) {
  for (auto& m : outbox::EventMessages(
           prefix_, protocol::NewEvent(type, job_id, video_id, trace_id, std::move(data)))) {
    rows_.push_back(std::move(m));
  }
}

void Effects::VideoFailed(const std::string& job_id, const std::string& video_id,
                          const std::string& trace_id, Stage stage, const Error& error,
                          int attempts) {
  Event(EventType::kVideoFailed, job_id, video_id, trace_id,
        {{"stage", protocol::StageName(stage)},
         {"error_class", ToString(error.cls)},
         {"error_code", error.code.empty() ? std::string("error") : error.code},
         {"error_message", error.message},
         {"attempts", std::max(1, attempts)}});
}

void Effects::Flush(pqxx::work& txn) const { outbox::EnqueueMany(txn, rows_); }

void EmitJobCompleted(pqxx::work& txn, Effects& effects, const std::string& job_id,
                      const std::string& trace_id) {
  auto totals = store::GetJobTotals(txn, job_id);
  if (!totals || (totals->state != "completed" && totals->state != "completed_with_errors" &&
                  totals->state != "failed")) {
    return;  // not finished (or ended some other way): nothing to announce
  }
  effects.Event(EventType::kJobCompleted, job_id, "", trace_id,
                {{"state", totals->state},
                 {"video_count", totals->video_count},
                 {"done", totals->done},
                 {"failed", totals->failed},
                 {"duration_ms", totals->duration_ms}});
}

std::map<std::string, std::string> FinishJobs(pqxx::work& txn, Effects& effects,
                                              const std::map<std::string, std::string>& jobs) {
  std::map<std::string, std::string> ended;
  for (const auto& [job_id, trace_id] : jobs) {  // std::map: id order, the lock order
    if (auto state = store::FinishJobIfComplete(txn, job_id)) {
      EmitJobCompleted(txn, effects, job_id, trace_id);
      ended.emplace(job_id, *state);
    }
  }
  return ended;
}

bool FailVideo(pqxx::work& txn, Effects& effects, const std::string& job_id,
               const std::string& video_id, const std::string& trace_id, Stage stage,
               const Error& error, int attempts) {
  if (!store::FailVideo(txn, job_id, video_id, stage, error)) return false;
  effects.VideoFailed(job_id, video_id, trace_id, stage, error, attempts);
  FinishJobs(txn, effects, {{job_id, trace_id}});
  return true;
}

}  // namespace chansum::pipeline
