#include "api.hpp"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

#include "auth.hpp"
#include "chansum/common/ids.hpp"
#include "chansum/common/logging.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/net/destination.hpp"
#include "chansum/pipeline/pipeline.hpp"
#include "chansum/protocol/command.hpp"
#include "chansum/store/job_view.hpp"
#include "chansum/store/reliability.hpp"
#include "chansum/store/store.hpp"
#include "job_versions.hpp"
#include "routes_dashboard.hpp"

namespace chansum::orchestrator {

using nlohmann::json;

std::optional<int> ListLimitParam(const httplib::Request& req, httplib::Response& res, int fallback,
                                  int max) {
  if (!req.has_param("limit")) return fallback;
  auto parsed = ParseListLimit(req.get_param_value("limit"), max);
  if (!parsed.ok()) {
    SendError(res, 400, parsed.error().code, parsed.error().message);
    return std::nullopt;
  }
  return *parsed;
}

bool RefuseDestination(const ApiDeps& deps, const JobRequest& request, httplib::Response& res) {
  // SSRF: a channel URL whose host is (or resolves to) a loopback, private, link-local or other
  // non-public address is refused unless FETCH_ALLOWLIST lists it. Decided from the URL and
  // name resolution alone, before anything connects: the answer never tells whether a port is
  // open. A name that does not resolve now is accepted (discovery checks again and fails the
  // job if it still does not). @handles and channel ids name YouTube, not a host of the user's.
  if (deps.check_destination && request.user_url) {
    auto allowed = deps.check_destination(request.channel_url);
    if (!allowed.ok()) {
      if (allowed.error().code == net::kDestinationNotAllowed) {
        SendError(res, 422, net::kDestinationNotAllowed, allowed.error().message);
        return true;
      }
      if (allowed.error().code == "invalid_url") {  // e.g. a host "1.2.3.999"
        SendError(res, 400, "invalid_channel", allowed.error().message);
        return true;
      }
      spdlog::info("channel URL not resolvable now ({}); discovery checks it again",
                   allowed.error().ToString());
    }
  }
  return false;
}

void RegisterRoutes(http::Server& server, const ApiDeps& deps) {
  // Bodies over 64 KiB are refused with 413 before the handler runs.
  // With API_TOKEN set, the bearer check runs before routing (inside the metrics' timing).
  http::ServerOptions options;
  options.max_body_bytes = kMaxBodyBytes;
  options.api_token = deps.api_token;
  options.metrics_public = deps.metrics_public;
  options.is_public = [](std::string_view method, std::string_view path) {
    return IsPublicRequest(method, path, /*metrics_public=*/false);
  };
  options.limits = deps.limits;
  http::ConfigureJsonServer(server, options);
  http::AddHealthRoutes(server, deps.readiness);

  server.Post("/jobs", [deps](const httplib::Request& req, httplib::Response& res) {
    auto parsed = ParseJobRequest(req.body);
    if (!parsed.ok()) {
      const int status = parsed.error().code == "payload_too_large" ? 413 : 400;
      SendError(res, status, parsed.error().code, parsed.error().message);
      return;
    }
    if (RefuseDestination(deps, *parsed, res)) return;
    store::NewJob job;
    job.id = NewUuid();
    job.channel = parsed->channel;
    job.channel_url = parsed->channel_url;
    job.options = {{"max_videos", parsed->max_videos}};
    if (!parsed->published_after.empty()) job.options["published_after"] = parsed->published_after;
    if (parsed->max_duration_s) job.options["max_duration_s"] = *parsed->max_duration_s;
    if (!parsed->caption_languages.empty()) {
      job.options["caption_languages"] = parsed->caption_languages;
    }
    job.trace_id = NewUuid();
    ScopedLogContext ctx(
        std::map<std::string, std::string>{{"job_id", job.id}, {"trace_id", job.trace_id}});
    auto command = protocol::NewCommand(protocol::Stage::kDiscovery, job.id, "", job.trace_id,
                                        store::DiscoveryCommandData(job.channel_url, job.options));
    pipeline::Effects effects(deps.queue_prefix);
    effects.Command(command);
    auto st = deps.txn([&](pqxx::work& txn) {
      store::InsertJob(txn, job);
      effects.Flush(txn);
    });
    if (!st.ok()) {
      SendFailure(res, st.error());
      return;
    }
    spdlog::info("job created for channel {} (max_videos {})", job.channel_url, parsed->max_videos);
    res.set_header("Location", "/jobs/" + job.id);
    SendJson(res, 202,
             json{{"job_id", job.id}, {"status_url", "/jobs/" + job.id}, {"state", "queued"}});
  });

  server.Get("/jobs", [deps](const httplib::Request& req, httplib::Response& res) {
    const auto limit = ListLimitParam(req, res, kDefaultListLimit);
    if (!limit) return;
    const std::string cursor = req.has_param("cursor") ? req.get_param_value("cursor") : "";
    Result<store::JobPage> page = Error::Permanent("unset", "");
    auto st = deps.txn([&](pqxx::work& txn) { page = store::ListJobs(txn, *limit, cursor); });
    if (!st.ok()) {
      SendFailure(res, st.error());
      return;
    }
    if (!page.ok()) {
      SendError(res, 400, "invalid_parameter", page.error().message);
      return;
    }
    nlohmann::ordered_json body;
    body["jobs"] = std::move(page->jobs);
    body["next_cursor"] = page->next_cursor.empty() ? nlohmann::ordered_json(nullptr)
                                                    : nlohmann::ordered_json(page->next_cursor);
    SendJson(res, 200, body);
  });

  // GET /jobs/{id}?limit=&cursor=: the job, its counts and a page of its videos, with a strong
  // ETag. If-None-Match is answered from the versions kept in memory (job_versions.hpp) without a
  // database round trip when they are current; otherwise from one snapshot of the database.
  server.Get(R"(/jobs/([^/]+))", [deps](const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    if (!IsUuid(id)) {
      SendError(res, 400, "invalid_job_id", "job id must be a UUID");
      return;
    }
    std::transform(id.begin(), id.end(), id.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto limit = ListLimitParam(req, res, kDefaultVideoLimit, kMaxVideoLimit);
    if (!limit) return;
    const std::string cursor = req.has_param("cursor") ? req.get_param_value("cursor") : "";
    std::optional<store::VideoCursor> after;
    if (!cursor.empty()) {
      auto parsed = store::ParseVideoCursor(cursor);
      if (!parsed.ok()) {
        SendError(res, 400, "invalid_parameter", parsed.error().message);
        return;
      }
      after = std::move(*parsed);
    }
    const std::string if_none_match = req.get_header_value("If-None-Match");
    auto not_modified = [&](const std::string& etag) {
      res.status = 304;
      res.set_header("ETag", etag);
      res.set_header("Cache-Control", "no-cache");
    };
    if (deps.job_versions != nullptr) {
      // Also asks for the job to be followed, so that the client's next poll is answered here.
      auto version = deps.job_versions->Current(id);
      if (version && !if_none_match.empty()) {
        const std::string etag = JobViewEtag(id, *version, *limit, cursor);
        if (IfNoneMatchLists(if_none_match, etag)) {
          not_modified(etag);
          return;
        }
      }
    }
    std::optional<nlohmann::ordered_json> view;
    store::JobVersion version;
    auto st = deps.txn([&](pqxx::work& txn) {
      store::UseOneSnapshot(txn);  // the view and its version from the same snapshot
      view = store::GetJobViewPage(txn, id, *limit, after ? &*after : nullptr);
      if (view) version = store::ReadJobVersion(txn, id);
    });
    if (!st.ok()) {
      SendFailure(res, st.error());
      return;
    }
    if (!view) {
      SendError(res, 404, "job_not_found", "no job with id " + id);
      return;
    }
    const std::string etag = JobViewEtag(id, version, *limit, cursor);
    if (if_none_match == "*" || IfNoneMatchLists(if_none_match, etag)) {
      not_modified(etag);
      return;
    }
    res.set_header("ETag", etag);
    res.set_header("Cache-Control", "no-cache");
    SendJson(res, 200, *view);
  });

  RegisterOutputRoutes(server, deps);  // transcripts, summaries, digests, export
  RegisterDashboardRoutes(server, deps);
  RegisterLiveRoutes(server, deps);
  RegisterReliabilityRoutes(server, deps);
  RegisterSubscriptionRoutes(server, deps);
}

}  // namespace chansum::orchestrator
