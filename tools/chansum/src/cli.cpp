#include "chansum/cli/cli.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "chansum/cli/api_client.hpp"
#include "chansum/cli/progress.hpp"
#include "chansum/cli/sse.hpp"

namespace chansum::cli {
namespace {

using nlohmann::json;

constexpr const char* kDefaultApi = "http://127.0.0.1:8080";

struct CommandSpec {
  const char* name;
  const char* usage;
  const char* summary;
  std::set<std::string> value_flags;  // flags taking a value
  std::set<std::string> bool_flags;
  int min_args;
  int max_args;
};

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> specs = {
      {"submit",
       "chansum submit <channel> [--max-videos N] [--watch]",
       "Submit a channel (@handle, UC... id, playlist or feed URL); prints the job id.\n"
       "  --max-videos N  newest N videos (1-500, default 20)\n"
       "  --watch         follow the job live until it ends (exit code by its outcome)",
       {"max-videos"},
       {"watch"},
       1,
       1},
      {"watch",
       "chansum watch <job>",
       "Follow a job live (GET /jobs/{id}/events): a progress bar per stage, a line per video,\n"
       "the time left; plain lines when stdout is not a terminal. Ends when the job ends.",
       {},
       {},
       1,
       1},
      {"jobs",
       "chansum jobs [--limit N]",
       "List jobs, newest first.\n  --limit N  1-100 (20)",
       {"limit"},
       {},
       0,
       0},
      {"show",
       "chansum show <job> [--json]",
       "A job's state, counts per stage and one line per video.\n  --json  the API's JSON",
       {},
       {"json"},
       1,
       1},
      {"transcript",
       "chansum transcript <video> [--format txt|srt|vtt|json]",
       "Print a video's transcript (default txt).",
       {"format"},
       {},
       1,
       1},
      {"summary",
       "chansum summary <video> [--format md|json]",
       "Print a video's summary (default md).",
       {"format"},
       {},
       1,
       1},
      {"retry", "chansum retry <job>", "Requeue the failed videos of a job.", {}, {}, 1, 1},
      {"cancel",
       "chansum cancel <job>",
       "Cancel a job: queued work is skipped, running work stops, finished videos are kept.",
       {},
       {},
       1,
       1},
  };
  return specs;
}

const CommandSpec* FindCommand(const std::string& name) {
  for (const auto& c : Commands()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

std::string MainHelp() {
  std::string h =
      "chansum - command line client of the Channel Summarizer API\n\n"
      "Usage: chansum [--api URL] [--token TOKEN] <command> [options]\n\nCommands:\n";
  for (const auto& c : Commands()) h += "  " + std::string(c.usage) + "\n";
  h += "\nGlobal options:\n"
       "  --api URL      API base URL (env CHANSUM_API, default " +
       std::string(kDefaultApi) +
       ")\n"
       "  --token TOKEN  bearer token when the API requires one (env CHANSUM_TOKEN)\n"
       "  --plain        plain lines even on a terminal\n"
       "  --help         help (also after a command: chansum watch --help)\n\n"
       "Exit codes: 0 done; 1 internal error; 2 usage; 3 API refused the request (4xx);\n"
       "4 API unreachable or failing (5xx); 5 job failed; 6 job completed with errors;\n"
       "7 job cancelled.\n";
  return h;
}

std::string CommandHelp(const CommandSpec& c) {
  return "Usage: " + std::string(c.usage) + "\n\n" + c.summary +
         "\n\nGlobal options: --api URL, --token TOKEN, --plain, --help (see chansum --help)\n";
}

struct UsageError {
  std::string message;
};

// Parses argv (without the program name).
Options Parse(const std::vector<std::string>& argv) {
  Options o;
  const std::set<std::string> global_value = {"api", "token"};
  const std::set<std::string> global_bool = {"plain"};
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::optional<std::string>>> raw;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a.rfind("--", 0) == 0 && a.size() > 2) {
      const auto eq = a.find('=');
      if (eq != std::string::npos) {
        raw.emplace_back(a.substr(2, eq - 2), a.substr(eq + 1));
      } else {
        raw.emplace_back(a.substr(2), std::nullopt);
        // The value of a value flag is the next argument (decided below once the command is
        // known; global value flags are known now).
        const std::string name = a.substr(2);
        const bool takes_value = global_value.count(name) > 0 || name == "max-videos" ||
                                 name == "format" || name == "limit";
        if (takes_value) {
          if (i + 1 >= argv.size()) throw UsageError{"option --" + name + " needs a value"};
          raw.back().second = argv[++i];
        }
      }
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      throw UsageError{"unknown option " + a};
    } else {
      positional.push_back(a);
    }
  }
  if (!positional.empty()) {
    o.command = positional.front();
    o.args.assign(positional.begin() + 1, positional.end());
  }
  const CommandSpec* spec = o.command.empty() ? nullptr : FindCommand(o.command);
  if (!o.command.empty() && spec == nullptr) {
    throw UsageError{"unknown command \"" + o.command + "\" (see chansum --help)"};
  }
  for (auto& [name, value] : raw) {
    const bool is_value = global_value.count(name) > 0 || (spec && spec->value_flags.count(name));
    const bool is_bool = global_bool.count(name) > 0 || (spec && spec->bool_flags.count(name));
    if (!is_value && !is_bool) {
      throw UsageError{"unknown option --" + name +
                       (spec ? " for \"" + o.command + "\"" : std::string())};
    }
    if (is_value && (!value || value->empty())) {
      throw UsageError{"option --" + name + " needs a value"};
    }
    if (is_bool && value) {
      throw UsageError{"option --" + name + " takes no value"};
    }
    o.flags[name] = value.value_or("");
  }
  if (spec != nullptr && !o.help) {
    const int n = static_cast<int>(o.args.size());
    if (n < spec->min_args || n > spec->max_args) {
      throw UsageError{std::string("usage: ") + spec->usage};
    }
  }
  return o;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Encodes a path segment (ids are [A-Za-z0-9_.:-] in practice; anything else is escaped).
std::string Segment(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

class Session {
 public:
  Session(const Options& o, const Environment& env, std::ostream& out, std::ostream& err,
          bool interactive)
      : opts_(o),
        out_(out),
        err_(err),
        interactive_(interactive && o.flags.count("plain") == 0),
        client_(Flag("api", EnvOr(env, "CHANSUM_API", kDefaultApi)),
                Flag("token", EnvOr(env, "CHANSUM_TOKEN", ""))) {}

  int Dispatch() {
    const auto& c = opts_.command;
    if (c == "submit") return Submit();
    if (c == "watch") return Watch(opts_.args[0]);
    if (c == "jobs") return Jobs();
    if (c == "show") return Show();
    if (c == "transcript") return Document("transcript");
    if (c == "summary") return Document("summary");
    if (c == "retry") return Retry();
    if (c == "cancel") return Cancel();
    return Fail(kExitUsage, "unknown command");
  }

 private:
  static std::string EnvOr(const Environment& env, const char* key, const std::string& dflt) {
    auto it = env.find(key);
    return it != env.end() && !it->second.empty() ? it->second : dflt;
  }
  std::string Flag(const std::string& name, const std::string& dflt) const {
    auto it = opts_.flags.find(name);
    return it != opts_.flags.end() ? it->second : dflt;
  }

  int Fail(int code, const std::string& message) {
    err_ << "chansum: " << message << "\n";
    return code;
  }

  // A transport error or an unexpected status -> the right exit code and one line.
  int FailResponse(const Result<HttpResponse>& r) {
    if (!r.ok()) return Fail(kExitUnavailable, r.error().message);
    const int code = r->status >= 500 ? kExitUnavailable : kExitApiError;
    return Fail(code, ApiErrorMessage(*r) + " (HTTP " + std::to_string(r->status) + ")");
  }

  // GET/POST expecting `ok_status` and a JSON body.
  std::optional<json> Call(const std::string& method, const std::string& path,
                           const std::string& body, int ok_status, int* exit_code) {
    auto r = method == "GET" ? client_.Get(path) : client_.Post(path, body);
    if (!r.ok() || r->status != ok_status) {
      *exit_code = FailResponse(r);
      return std::nullopt;
    }
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) {
      *exit_code = Fail(kExitUnavailable, "the API answered " + path + " with invalid JSON");
      return std::nullopt;
    }
    return j;
  }

  int Submit() {
    json body = {{"channel", opts_.args[0]}};
    if (opts_.flags.count("max-videos")) {
      const std::string& v = opts_.flags.at("max-videos");
      std::size_t used = 0;
      long n = 0;
      try {
        n = std::stol(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != v.size() || used == 0) {
        return Fail(kExitUsage, "--max-videos must be a whole number, got \"" + v + "\"");
      }
      body["max_videos"] = n;  // the API checks the range
    }
    int rc = kExitOk;
    auto j = Call("POST", "/jobs", body.dump(), 202, &rc);
    if (!j) return rc;
    const std::string id = j->value("job_id", "");
    out_ << id << "\n";
    out_.flush();
    if (opts_.flags.count("watch")) return Watch(id);
    return kExitOk;
  }

  int Jobs() {
    const std::string limit = Flag("limit", "20");
    int rc = kExitOk;
    auto j = Call("GET", "/jobs?limit=" + Segment(limit), "", 200, &rc);
    if (!j) return rc;
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%-36s  %-21s  %6s  %-24s  %s\n", "JOB", "STATE", "VIDEOS",
                  "CREATED", "CHANNEL");
    out_ << buf;
    for (const auto& job : j->value("jobs", json::array())) {
      const std::string videos = job["video_count"].is_number()
                                     ? std::to_string(job["video_count"].get<int>())
                                     : std::string("-");
      std::snprintf(
          buf, sizeof(buf), "%-36s  %-21s  %6s  %-24s  %s\n", job.value("job_id", "").c_str(),
          job.value("state", "").c_str(), videos.c_str(),
          job["created_at"].is_string() ? job["created_at"].get<std::string>().c_str() : "",
          job.value("channel", "").c_str());
      out_ << buf;
    }
    return kExitOk;
  }

  int Show() {
    // Every video, page by page (GET /jobs/{id} pages them, videos_next_cursor).
    JobFetcher fetcher(client_, Segment(opts_.args[0]));
    HttpResponse failed;
    auto j = fetcher.Fetch(&failed);
    if (!j.ok()) {
      if (failed.status != 0) return FailResponse(failed);
      return Fail(kExitUnavailable, j.error().message);
    }
    if (opts_.flags.count("json")) {
      out_ << j->dump(2) << "\n";
      return kExitOk;
    }
    JobProgress p;
    p.ApplySnapshot(*j);
    const double now = Now();
    out_ << p.RenderBlock(now, 1000);
    if ((*j)["error"].is_string()) out_ << "  error: " << (*j)["error"].get<std::string>() << "\n";
    return kExitOk;
  }

  int Document(const std::string& what) {
    const bool transcript = what == "transcript";
    const std::string format = Flag("format", transcript ? "txt" : "md");
    const std::set<std::string> allowed = transcript
                                              ? std::set<std::string>{"txt", "srt", "vtt", "json"}
                                              : std::set<std::string>{"md", "json"};
    if (allowed.count(format) == 0) {
      return Fail(kExitUsage, "--format must be one of " +
                                  std::string(transcript ? "txt, srt, vtt, json" : "md, json"));
    }
    const std::string path =
        "/videos/" + Segment(opts_.args[0]) + "/" + what + "?format=" + Segment(format);
    auto r = client_.Get(path);
    if (!r.ok() || r->status != 200) return FailResponse(r);
    const bool got_json = r->content_type.find("application/json") != std::string::npos;
    if (format == "json" || !got_json) {
      out_ << r->body;
      if (!r->body.empty() && r->body.back() != '\n') out_ << "\n";
      return kExitOk;
    }
    // An API without ?format= support answers JSON: render the text form here.
    auto j = json::parse(r->body, nullptr, false);
    if (!j.is_object()) return Fail(kExitUnavailable, "the API answered with invalid JSON");
    if (transcript) {
      if (format != "txt") {
        return Fail(kExitApiError, "this API does not serve transcripts as " + format);
      }
      out_ << j.value("text", "") << "\n";
    } else {
      out_ << "# Summary of " << opts_.args[0] << "\n\n" << j.value("summary", "") << "\n";
      if (j.contains("key_points") && j["key_points"].is_array() && !j["key_points"].empty()) {
        out_ << "\n## Key points\n\n";
        for (const auto& k : j["key_points"]) {
          if (k.is_string()) out_ << "- " << k.get<std::string>() << "\n";
        }
      }
    }
    return kExitOk;
  }

  int Retry() {
    int rc = kExitOk;
    auto j = Call("POST", "/jobs/" + Segment(opts_.args[0]) + "/retry", "{}", 202, &rc);
    if (!j) return rc;
    const int n = j->value("requeued", 0);
    out_ << "job " << j->value("job_id", opts_.args[0]) << ": requeued " << n
         << (n == 1 ? " video\n" : " videos\n");
    return kExitOk;
  }

  int Cancel() {
    int rc = kExitOk;
    auto j = Call("POST", "/jobs/" + Segment(opts_.args[0]) + "/cancel", "{}", 202, &rc);
    if (!j) return rc;
    out_ << "job " << j->value("job_id", opts_.args[0]) << " " << j->value("state", "cancelled")
         << "\n";
    return kExitOk;
  }

  static int ExitCodeForState(const std::string& state) {
    if (state == "completed") return kExitOk;
    if (state == "completed_with_errors") return kExitJobWithErrors;
    if (state == "failed") return kExitJobFailed;
    if (state == "cancelled") return kExitJobCancelled;
    return kExitInternal;
  }

  // Polls GET /jobs/{id} (every page) once a second until the job finishes, revalidating with
  // If-None-Match: an unchanged job is a 304 the server answers from memory. `on_change` runs after
  // each change was applied to `progress`.
  int PollUntilFinished(const std::string& job_id, JobProgress& progress,
                        const std::function<void()>& on_change) {
    JobFetcher fetcher(client_, Segment(job_id));
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
        return FailResponse(failed);
      } else if (++failures > 20) {
        return Fail(kExitUnavailable, "cannot follow the job: " + view.error().message);
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }

  int Watch(const std::string& job_id) {
    JobProgress progress;
    bool have_snapshot = false;
    int drawn_lines = 0;
    auto last_draw = std::chrono::steady_clock::time_point{};
    auto redraw = [&](bool force) {
      if (!interactive_ || !have_snapshot) return;
      const auto now = std::chrono::steady_clock::now();
      if (!force && now - last_draw < std::chrono::milliseconds(100)) return;
      last_draw = now;
      const std::string block = progress.RenderBlock(Now(), 20);
      if (drawn_lines > 0) out_ << "\x1b[" << drawn_lines << "F\x1b[J";
      out_ << block;
      out_.flush();
      drawn_lines = static_cast<int>(std::count(block.begin(), block.end(), '\n'));
    };
    SseParser parser([&](const SseEvent& e) {
      auto data = json::parse(e.data, nullptr, false);
      if (data.is_discarded()) return;
      if (e.type == "snapshot") {
        progress.ApplySnapshot(data);
        have_snapshot = true;
        if (!interactive_) {
          out_ << "job " << progress.job_id() << " " << progress.ProgressLine(Now()) << "\n";
        }
      } else if (e.type == "video") {
        const std::string line = progress.ApplyVideo(data);
        if (!interactive_ && !line.empty()) out_ << line << "\n";
      } else if (e.type == "job") {
        const std::string line = progress.ApplyJob(data);
        if (!interactive_ && !line.empty()) out_ << line << "\n";
      }
      if (!interactive_) out_.flush();
      redraw(progress.Terminal());
    });

    const std::string path = "/jobs/" + Segment(job_id) + "/events";
    int failures = 0;
    while (true) {
      auto r = client_.Stream(path, parser.last_event_id(), [&](const std::string& chunk) {
        parser.Feed(chunk);
        failures = 0;
        return !progress.Terminal();
      });
      if (progress.Terminal()) break;
      if (r.ok() && r->status == 503) {
        // No room for another stream (EVENTS_MAX_STREAMS): poll GET /jobs/{id} instead.
        const int polled = PollUntilFinished(job_id, progress, [&] {
          have_snapshot = true;
          if (!interactive_) {
            out_ << "job " << progress.job_id() << " " << progress.ProgressLine(Now()) << "\n";
            out_.flush();
          }
          redraw(progress.Terminal());
        });
        if (polled != kExitOk) return polled;
        break;
      }
      if (r.ok() && r->status != 200) return FailResponse(r);
      // The connection dropped (or the server ended early): resume after the last event id.
      if (++failures > 20) {
        return Fail(kExitUnavailable, r.ok() ? "the event stream keeps ending early"
                                             : "lost the event stream: " + r.error().message);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(500 * failures, 5000)));
    }
    redraw(true);
    out_ << progress.SummaryLine(Now()) << "\n";
    out_.flush();
    return ExitCodeForState(progress.state());
  }

  const Options& opts_;
  std::ostream& out_;
  std::ostream& err_;
  bool interactive_;
  ApiClient client_;
};

}  // namespace

int Run(const std::vector<std::string>& argv, const Environment& env, std::ostream& out,
        std::ostream& err, bool interactive) {
  Options opts;
  try {
    opts = Parse(argv);
  } catch (const UsageError& e) {
    err << "chansum: " << e.message << "\n";
    return kExitUsage;
  }
  if (opts.command.empty()) {
    if (opts.help) {
      out << MainHelp();
      return kExitOk;
    }
    err << "chansum: a command is required (see chansum --help)\n";
    return kExitUsage;
  }
  if (opts.help) {
    out << CommandHelp(*FindCommand(opts.command));
    return kExitOk;
  }
  try {
    Session session(opts, env, out, err, interactive);
    return session.Dispatch();
  } catch (const std::exception& e) {
    err << "chansum: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}

}  // namespace chansum::cli
