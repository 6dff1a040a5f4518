// Outputs: transcripts as txt/srt/vtt/json, summaries as md/json, the channel digest as json/md
// and the export of a job's Markdown as a tar archive.
#include <algorithm>
#include <chrono>
#include <memory>
#include <regex>

#include "api.hpp"
#include "chansum/common/ids.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/store/job_view.hpp"
#include "digest.hpp"
#include "outputs.hpp"
#include "tar_archive.hpp"

namespace chansum::orchestrator {
namespace {

using nlohmann::json;

bool ValidVideoId(const std::string& id) {
  static const std::regex pattern("^[A-Za-z0-9_.:-]{1,128}$");
  return std::regex_match(id, pattern);
}

// The ?format= value, checked against `allowed` (the first is the default). nullopt after a 400.
std::optional<std::string> Format(const httplib::Request& req, httplib::Response& res,
                                  const std::vector<std::string>& allowed) {
  if (!req.has_param("format")) return allowed.front();
  const auto f = req.get_param_value("format");
  if (std::find(allowed.begin(), allowed.end(), f) != allowed.end()) return f;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  SendError(res, 400, "invalid_format", "format must be one of: " + list);
  return std::nullopt;
}

// The stored document of a video, or nullopt after an error response.
std::optional<json> VideoDocument(const ApiDeps& deps, const httplib::Request& req,
                                  httplib::Response& res, const char* collection,
                                  const std::string& what) {
  const std::string id = req.matches[1];
  if (!ValidVideoId(id)) {
    SendError(res, 400, "invalid_video_id", "video id has invalid characters");
    return std::nullopt;
  }
  auto doc = deps.docs->Get(collection, id);
  if (!doc.ok()) {
    SendFailure(res, doc.error());
    return std::nullopt;
  }
  if (!doc->has_value()) {
    SendError(res, 404, what + "_not_found", "no " + what + " for video " + id);
    return std::nullopt;
  }
  json body = **doc;
  body["video_id"] = body.contains("_id") ? body["_id"] : json(id);
  body.erase("_id");
  return body;
}

std::optional<std::string> JobId(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  if (!IsUuid(id)) {
    SendError(res, 400, "invalid_job_id", "job id must be a UUID");
    return std::nullopt;
  }
  return id;
}

void SendJobError(httplib::Response& res, const Error& e) {
  if (e.code == "job_not_found") {
    SendError(res, 404, e.code, e.message);
  } else if (e.code == "job_not_finished") {
    SendError(res, 409, e.code, e.message);
  } else {
    SendFailure(res, e);
  }
}

}  // namespace

void RegisterOutputRoutes(httplib::Server& server, const ApiDeps& deps) {
  server.Get(R"(/videos/([^/]+)/transcript)", [deps](const httplib::Request& req,
                                                     httplib::Response& res) {
    auto format = Format(req, res, {"json", "txt", "srt", "vtt"});
    if (!format) return;
    auto doc = VideoDocument(deps, req, res, protocol::kTranscriptsCollection, "transcript");
    if (!doc) return;
    if (*format == "json") {
      SendJson(res, 200, *doc);
      return;
    }
    auto transcript = protocol::TranscriptFromJson(*doc);
    if (!transcript.ok()) {
      SendFailure(res, transcript.error());
    } else if (*format == "txt") {
      res.set_content(TranscriptAsText(*transcript, deps.readable), "text/plain; charset=utf-8");
    } else if (*format == "srt") {
      res.set_content(TranscriptAsSrt(*transcript), "application/x-subrip; charset=utf-8");
    } else {
      res.set_content(TranscriptAsVtt(*transcript), "text/vtt; charset=utf-8");
    }
  });

  server.Get(R"(/videos/([^/]+)/summary)",
             [deps](const httplib::Request& req, httplib::Response& res) {
               auto format = Format(req, res, {"json", "md"});
               if (!format) return;
               auto doc = VideoDocument(deps, req, res, protocol::kSummariesCollection, "summary");
               if (!doc) return;
               if (*format == "json") {
                 SendJson(res, 200, *doc);
                 return;
               }
               auto summary = protocol::SummaryFromJson(*doc);
               if (!summary.ok()) {
                 SendFailure(res, summary.error());
                 return;
               }
               // Titled with the video's title (from the jobs that listed it), else its id.
               std::string title = doc->value("video_id", "");
               auto st = deps.txn([&](pqxx::work& txn) {
                 if (auto t = store::VideoTitle(txn, title)) title = *t;
               });
               if (!st.ok()) {
                 SendFailure(res, st.error());
                 return;
               }
               res.set_content(SummaryAsMarkdown(*summary, title), "text/markdown; charset=utf-8");
             });

  server.Get(R"(/jobs/([^/]+)/digest)",
             [deps](const httplib::Request& req, httplib::Response& res) {
               auto id = JobId(req, res);
               if (!id) return;
               auto format = Format(req, res, {"json", "md"});
               if (!format) return;
               auto digest = EnsureDigest(deps, *id);
               if (!digest.ok()) {
                 SendJobError(res, digest.error());
                 return;
               }
               if (*format == "json") {
                 SendJson(res, 200, *digest);
               } else {
                 res.set_content(DigestAsMarkdown(*digest), "text/markdown; charset=utf-8");
               }
             });

  server.Get(
      R"(/jobs/([^/]+)/export)", [deps](const httplib::Request& req, httplib::Response& res) {
        auto id = JobId(req, res);
        if (!id) return;
        auto digest = EnsureDigest(deps, *id);
        if (!digest.ok()) {
          SendJobError(res, digest.error());
          return;
        }
        auto docs = LoadJobDocuments(deps, *id, /*with_transcripts=*/true);
        if (!docs.ok()) {
          SendJobError(res, docs.error());
          return;
        }
        const std::string root = "chansum-" + id->substr(0, 8) + "/";
        std::vector<TarEntry> entries;
        entries.push_back({root + "digest.md", DigestAsMarkdown(*digest)});
        int position = 0;
        for (const auto& v : docs->view["videos"]) {
          const std::string vid = v.value("video_id", "");
          std::optional<protocol::Summary> summary;
          std::optional<protocol::Transcript> transcript;
          if (docs->summaries.contains(vid)) summary = docs->summaries[vid];
          if (docs->transcripts.contains(vid)) transcript = docs->transcripts[vid];
          entries.push_back({root + "videos/" + ExportFileName(++position, vid),
                             VideoMarkdown(v, summary, transcript, deps.readable)});
        }
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        res.set_header("Content-Disposition", "attachment; filename=\"chansum-" + *id + ".tar\"");
        // Streamed: libarchive's blocks go to the client as they are written.
        auto files = std::make_shared<std::vector<TarEntry>>(std::move(entries));
        res.set_chunked_content_provider(
            "application/x-tar", [files, now](std::size_t, httplib::DataSink& sink) {
              const bool ok = WriteTar(*files, now, [&sink](std::string_view bytes) {
                return sink.write(bytes.data(), bytes.size());
              });
              if (ok) sink.done();
              return ok;
            });
      });
}

}  // namespace chansum::orchestrator
