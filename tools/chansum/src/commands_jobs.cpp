// submit, jobs, show, retry, cancel.
#include <cstdio>
#include <exception>
#include <ostream>

#include "chansum/cli/progress.hpp"
#include "commands.hpp"

namespace chansum::cli {

using nlohmann::json;

int Submit(Session& s) {
  json body = {{"channel", s.opts.args[0]}};
  if (s.Has("max-videos")) {
    const std::string& v = s.opts.flags.at("max-videos");
    std::size_t used = 0;
    long n = 0;
    try {
      n = std::stol(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || used == 0) {
      return s.Fail(kExitUsage, "--max-videos must be a whole number, got \"" + v + "\"");
    }
    body["max_videos"] = n;  // the API checks the range
  }
  int rc = kExitOk;
  auto j = s.Call("POST", "/jobs", body.dump(), 202, &rc);
  if (!j) return rc;
  const std::string id = j->value("job_id", "");
  s.out << id << "\n";
  s.out.flush();
  if (s.Has("watch")) return WatchJob(s, id);
  return kExitOk;
}

int Jobs(Session& s) {
  const std::string limit = s.Flag("limit", "20");
  int rc = kExitOk;
  auto j = s.Call("GET", "/jobs?limit=" + Segment(limit), "", 200, &rc);
  if (!j) return rc;
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%-36s  %-21s  %6s  %-24s  %s\n", "JOB", "STATE", "VIDEOS",
                "CREATED", "CHANNEL");
  s.out << buf;
  for (const auto& job : j->value("jobs", json::array())) {
    const std::string videos = job["video_count"].is_number()
                                   ? std::to_string(job["video_count"].get<int>())
                                   : std::string("-");
    std::snprintf(buf, sizeof(buf), "%-36s  %-21s  %6s  %-24s  %s\n",
                  job.value("job_id", "").c_str(), job.value("state", "").c_str(), videos.c_str(),
                  job["created_at"].is_string() ? job["created_at"].get<std::string>().c_str() : "",
                  job.value("channel", "").c_str());
    s.out << buf;
  }
  return kExitOk;
}

int Show(Session& s) {
  // Every video, page by page (GET /jobs/{id} pages them, videos_next_cursor).
  JobFetcher fetcher(s.client, Segment(s.opts.args[0]));
  HttpResponse failed;
  auto j = fetcher.Fetch(&failed);
  if (!j.ok()) {
    if (failed.status != 0) return s.FailResponse(failed);
    return s.Fail(kExitUnavailable, j.error().message);
  }
  if (s.Has("json")) {
    s.out << j->dump(2) << "\n";
    return kExitOk;
  }
  JobProgress p;
  p.ApplySnapshot(*j);
  s.out << p.RenderBlock(Now(), 1000);
  s.out << JobNotes(*j);  // the job's error and warnings (e.g. bot_check)
  return kExitOk;
}

int Retry(Session& s) {
  int rc = kExitOk;
  auto j = s.Call("POST", "/jobs/" + Segment(s.opts.args[0]) + "/retry", "{}", 202, &rc);
  if (!j) return rc;
  const int n = j->value("requeued", 0);
  s.out << "job " << j->value("job_id", s.opts.args[0]) << ": requeued " << n
        << (n == 1 ? " video\n" : " videos\n");
  return kExitOk;
}

int Cancel(Session& s) {
  int rc = kExitOk;
  auto j = s.Call("POST", "/jobs/" + Segment(s.opts.args[0]) + "/cancel", "{}", 202, &rc);
  if (!j) return rc;
  s.out << "job " << j->value("job_id", s.opts.args[0]) << " " << j->value("state", "cancelled")
        << "\n";
  return kExitOk;
}

}  // namespace chansum::cli
