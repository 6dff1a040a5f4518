// watch (and submit --watch): a job live from its event stream, or by polling when the server has
// no room for another stream.
#include <algorithm>
#include <chrono>
#include <functional>
#include <ostream>
#include <thread>

#include "chansum/cli/progress.hpp"
#include "chansum/cli/sse.hpp"
#include "commands.hpp"

namespace chansum::cli {
namespace {

using nlohmann::json;

int ExitCodeForState(const std::string& state) {
  if (state == "completed") return kExitOk;
  if (state == "completed_with_errors") return kExitJobWithErrors;
  if (state == "failed") return kExitJobFailed;
  if (state == "cancelled") return kExitJobCancelled;
  return kExitInternal;
}

// Polls GET /jobs/{id} (every page) once a second until the job finishes, revalidating with
// If-None-Match: an unchanged job is a 304 the server answers from memory. `on_change` runs after
// each change was applied to `progress`.
int PollUntilFinished(Session& s, const std::string& job_id, JobProgress& progress,
                      const std::function<void()>& on_change) {
  JobFetcher fetcher(s.client, Segment(job_id));
  int failures = 0;
  while (true) {
    HttpResponse failed;
    bool changed = false;
    auto view = fetcher.Fetch(&failed, &changed);
    if (view.ok()) {
      failures = 0;
      if (changed) {
        progress.ApplySnapshot(*view);
        on_change();
      }
      if (progress.Terminal()) return kExitOk;
    } else if (failed.status != 0 && failed.status != 503) {
      return s.FailResponse(failed);
    } else if (++failures > 20) {
      return s.Fail(kExitUnavailable, "cannot follow the job: " + view.error().message);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

int Watch(Session& s) { return WatchJob(s, s.opts.args[0]); }

int WatchJob(Session& s, const std::string& job_id) {
  JobProgress progress;
  bool have_snapshot = false;
  int drawn_lines = 0;
  auto last_draw = std::chrono::steady_clock::time_point{};
  auto redraw = [&](bool force) {
    if (!s.interactive || !have_snapshot) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_draw < std::chrono::milliseconds(100)) return;
    last_draw = now;
    const std::string block = progress.RenderBlock(Now(), 20);
    if (drawn_lines > 0) s.out << "\x1b[" << drawn_lines << "F\x1b[J";
    s.out << block;
    s.out.flush();
    drawn_lines = static_cast<int>(std::count(block.begin(), block.end(), '\n'));
  };
  SseParser parser([&](const SseEvent& e) {
    auto data = json::parse(e.data, nullptr, false);
    if (data.is_discarded()) return;
    if (e.type == "snapshot") {
      progress.ApplySnapshot(data);
      have_snapshot = true;
      if (!s.interactive) {
        s.out << "job " << progress.job_id() << " " << progress.ProgressLine(Now()) << "\n";
      }
    } else if (e.type == "video") {
      const std::string line = progress.ApplyVideo(data);
      if (!s.interactive && !line.empty()) s.out << line << "\n";
    } else if (e.type == "job") {
      const std::string line = progress.ApplyJob(data);
      if (!s.interactive && !line.empty()) s.out << line << "\n";
    }
    if (!s.interactive) s.out.flush();
    redraw(progress.Terminal());
  });

  const std::string path = "/jobs/" + Segment(job_id) + "/events";
  int failures = 0;
  while (true) {
    auto r = s.client.Stream(path, parser.last_event_id(), [&](const std::string& chunk) {
      parser.Feed(chunk);
      failures = 0;
      return !progress.Terminal();
    });
    if (progress.Terminal()) break;
    if (r.ok() && r->status == 503) {
      // No room for another stream (EVENTS_MAX_STREAMS): poll GET /jobs/{id} instead.
      const int polled = PollUntilFinished(s, job_id, progress, [&] {
        have_snapshot = true;
        if (!s.interactive) {
          s.out << "job " << progress.job_id() << " " << progress.ProgressLine(Now()) << "\n";
          s.out.flush();
        }
        redraw(progress.Terminal());
      });
      if (polled != kExitOk) return polled;
      break;
    }
    if (r.ok() && r->status != 200) return s.FailResponse(r);
    // The connection dropped (or the server ended early): resume after the last event id.
    if (++failures > 20) {
      return s.Fail(kExitUnavailable, r.ok() ? "the event stream keeps ending early"
                                             : "lost the event stream: " + r.error().message);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(500 * failures, 5000)));
  }
  redraw(true);
  s.out << progress.SummaryLine(Now()) << "\n";
  s.out.flush();
  return ExitCodeForState(progress.state());
}

}  // namespace chansum::cli
