#include "digest.hpp"

#include <chrono>
#include <ctime>

#include <spdlog/spdlog.h>

#include "chansum/docstore/docstore.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/store/store.hpp"
#include "chansum/store/sync.hpp"
#include "outputs.hpp"

namespace chansum::orchestrator {
namespace {

using nlohmann::json;

json WithoutId(json doc) {
  doc.erase("_id");
  return doc;
}

}  // namespace

std::string NowRfc3339() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool IsFinishedJobState(const std::string& state) {
  return state == "completed" || state == "completed_with_errors" || state == "failed" ||
         state == "cancelled";  // a cancelled job keeps its finished videos
}

namespace {

// The stored summaries/transcripts of the videos of `view` (the document store only).
Result<JobDocuments> LoadDocuments(docstore::DocStore& docs, json view, bool with_transcripts) {
  JobDocuments out;
  out.view = std::move(view);
  for (const auto& v : out.view["videos"]) {
    const std::string id = v.value("video_id", "");
    auto summary = docs.Get(protocol::kSummariesCollection, id);
    if (!summary.ok()) return summary.error();
    if (summary->has_value()) {
      auto parsed = protocol::SummaryFromJson(**summary);
      if (!parsed.ok()) return parsed.error();
      out.summaries[id] = std::move(*parsed);
    }
    if (with_transcripts) {
      auto transcript = docs.Get(protocol::kTranscriptsCollection, id);
      if (!transcript.ok()) return transcript.error();
      if (transcript->has_value()) {
        auto parsed = protocol::TranscriptFromJson(**transcript);
        if (!parsed.ok()) return parsed.error();
        out.transcripts[id] = std::move(*parsed);
      }
    }
  }
  return out;
}

Result<JobDocuments> LoadJobDocumentsIn(pqxx::work& txn, docstore::DocStore& docs,
                                        const std::string& job_id, bool with_transcripts) {
  auto view = store::GetJobView(txn, job_id);
  if (!view) return Error::Permanent("job_not_found", "no job with id " + job_id);
  return LoadDocuments(docs, json::parse(view->dump()), with_transcripts);
}

// Builds and stores the digest of the finished job in `docs`. The digest carries the job's
// finished_at (`job_finished_at`): a stored digest of an earlier finish (before POST
// /jobs/{id}/retry) is stale and built again.
Result<json> BuildAndStore(docstore::DocStore& docs, const JobDocuments& job,
                           const std::string& job_id) {
  const std::string state = job.view.value("state", "");
  if (!IsFinishedJobState(state)) {
    return Error::Permanent("job_not_finished", "job " + job_id + " is " + state +
                                                    "; its digest is built when it ends");
  }
  json digest = BuildDigest(job.view, job.summaries, NowRfc3339());
  digest["job_finished_at"] = job.view.value("finished_at", json(nullptr));
  if (auto st = docs.Upsert(protocol::kDigestsCollection, job_id, digest); !st.ok())
    return st.error();
  return digest;
}

}  // namespace

Result<JobDocuments> LoadJobDocuments(const ApiDeps& deps, const std::string& job_id,
                                      bool with_transcripts) {
  std::optional<nlohmann::ordered_json> view;
  auto st = deps.txn([&](pqxx::work& txn) { view = store::GetJobView(txn, job_id); });
  if (!st.ok()) return st.error();
  if (!view) return Error::Permanent("job_not_found", "no job with id " + job_id);
  return LoadDocuments(*deps.docs, json::parse(view->dump()), with_transcripts);
}

Result<json> EnsureDigest(const ApiDeps& deps, const std::string& job_id, bool rebuild) {
  auto docs = LoadJobDocuments(deps, job_id, /*with_transcripts=*/false);
  if (!docs.ok()) return docs.error();
  if (!rebuild) {
    auto stored = deps.docs->Get(protocol::kDigestsCollection, job_id);
    if (!stored.ok()) return stored.error();
    // Only a digest of the job's current finish: a retried job that finished again gets one
    // built from its new summaries (issue 18 §3.8).
    if (stored->has_value() && (**stored).value("job_finished_at", json(nullptr)) ==
                                   docs->view.value("finished_at", json(nullptr))) {
      return WithoutId(**stored);
    }
  }
  return BuildAndStore(*deps.docs, *docs, job_id);
}

Result<int> BuildPendingDigests(const ApiDeps& deps, int limit, const std::string& since) {
  int built = 0;
  std::optional<Error> failure;
  // One transaction holds the claimed rows (SKIP LOCKED: other orchestrators take other jobs)
  // while their digests are written, then marks them.
  auto st = deps.txn([&](pqxx::work& txn) {
    for (const auto& job_id : store::ClaimJobsWithoutDigest(txn, limit, since)) {
      // The claiming transaction reads the job too: a second pool connection here would stall
      // (and, with a pool of one, time out) while this one is held (issue 18 §3.8).
      auto job = LoadJobDocumentsIn(txn, *deps.docs, job_id, /*with_transcripts=*/false);
      auto digest = job.ok() ? BuildAndStore(*deps.docs, *job, job_id) : Result<json>(job.error());
      if (!digest.ok()) {
        failure = digest.error();
        if (digest.error().transient()) break;  // e.g. the document store is down: later
        spdlog::warn("digest of job {} not built: {}", job_id, digest.error().ToString());
      }
      store::MarkDigestBuilt(txn, job_id);
      if (digest.ok()) ++built;
    }
  });
  if (!st.ok()) return st.error();
  if (failure && failure->transient()) return *failure;
  return built;
}

}  // namespace chansum::orchestrator
