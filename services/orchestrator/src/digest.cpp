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

Result<JobDocuments> LoadJobDocuments(const ApiDeps& deps, const std::string& job_id,
                                      bool with_transcripts) {
  std::optional<nlohmann::ordered_json> view;
  auto st = deps.txn([&](pqxx::work& txn) { view = store::GetJobView(txn, job_id); });
  if (!st.ok()) return st.error();
  if (!view) return Error::Permanent("job_not_found", "no job with id " + job_id);
  JobDocuments out;
  out.view = json::parse(view->dump());
  for (const auto& v : out.view["videos"]) {
    const std::string id = v.value("video_id", "");
    auto summary = deps.docs->Get(protocol::kSummariesCollection, id);
    if (!summary.ok()) return summary.error();
    if (summary->has_value()) {
      auto parsed = protocol::SummaryFromJson(**summary);
      if (!parsed.ok()) return parsed.error();
      out.summaries[id] = std::move(*parsed);
    }
    if (with_transcripts) {
      auto transcript = deps.docs->Get(protocol::kTranscriptsCollection, id);
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

Result<json> EnsureDigest(const ApiDeps& deps, const std::string& job_id, bool rebuild) {
  if (!rebuild) {
    auto stored = deps.docs->Get(protocol::kDigestsCollection, job_id);
    if (!stored.ok()) return stored.error();
    if (stored->has_value()) return WithoutId(**stored);
  }
  auto docs = LoadJobDocuments(deps, job_id, /*with_transcripts=*/false);
  if (!docs.ok()) return docs.error();
  const std::string state = docs->view.value("state", "");
  if (!IsFinishedJobState(state)) {
    return Error::Permanent("job_not_finished", "job " + job_id + " is " + state +
                                                    "; its digest is built when it ends");
  }
  json digest = BuildDigest(docs->view, docs->summaries, NowRfc3339());
  if (auto st = deps.docs->Upsert(protocol::kDigestsCollection, job_id, digest); !st.ok())
    return st.error();
  return digest;
}

Result<int> BuildPendingDigests(const ApiDeps& deps, int limit, const std::string& since) {
  int built = 0;
  std::optional<Error> failure;
  // One transaction holds the claimed rows (SKIP LOCKED: other orchestrators take other jobs)
  // while their digests are written, then marks them.
  auto st = deps.txn([&](pqxx::work& txn) {
    for (const auto& job_id : store::ClaimJobsWithoutDigest(txn, limit, since)) {
      auto digest = EnsureDigest(deps, job_id, /*rebuild=*/true);
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
