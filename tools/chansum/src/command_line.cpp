#include "command_line.hpp"

#include <optional>

#include "commands.hpp"

namespace chansum::cli {

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
       1,
       Submit},
      {"watch",
       "chansum watch <job>",
       "Follow a job live (GET /jobs/{id}/events): a progress bar per stage, a line per video,\n"
       "the time left; plain lines when stdout is not a terminal. Ends when the job ends.",
       {},
       {},
       1,
       1,
       Watch},
      {"jobs",
       "chansum jobs [--limit N]",
       "List jobs, newest first.\n  --limit N  1-100 (20)",
       {"limit"},
       {},
       0,
       0,
       Jobs},
      {"show",
       "chansum show <job> [--json]",
       "A job's state, counts per stage and one line per video.\n  --json  the API's JSON",
       {},
       {"json"},
       1,
       1,
       Show},
      {"transcript",
       "chansum transcript <video> [--format txt|srt|vtt|json]",
       "Print a video's transcript (default txt).",
       {"format"},
       {},
       1,
       1,
       Transcript},
      {"summary",
       "chansum summary <video> [--format md|json]",
       "Print a video's summary (default md).",
       {"format"},
       {},
       1,
       1,
       Summary},
      {"subscribe",
       "chansum subscribe <channel> [--every 6h] [--since now|DATE] [--max-videos N] "
       "[--keep-days N]",
       "Follow a channel: every --every it is checked and a job starts only for videos not\n"
       "processed before. Prints the subscription id.\n"
       "  --every 6h       interval (d, h, m, s: 1d, 6h, 1h30m; default 6h)\n"
       "  --since now      only videos published from now on (default), or from a date\n"
       "                   (2024-03-01) to take part of the back catalogue\n"
       "  --max-videos N   videos listed per check (1-500, default 20)\n"
       "  --keep-days N    delete transcripts and summaries N days after their job (default: keep)",
       {"every", "since", "max-videos", "keep-days"},
       {},
       1,
       1,
       Subscribe},
      {"subscriptions",
       "chansum subscriptions [<subscription>] [--json]",
       "List subscriptions, or show one: last and next check, recent checks, the jobs it\n"
       "started and its last error.\n  --json  the API's JSON",
       {},
       {"json"},
       0,
       1,
       Subscriptions},
      {"unsubscribe",
       "chansum unsubscribe <subscription>",
       "Stop following a channel (the jobs it started are kept).",
       {},
       {},
       1,
       1,
       Unsubscribe},
      {"retry", "chansum retry <job>", "Requeue the failed videos of a job.", {}, {}, 1, 1, Retry},
      {"cancel",
       "chansum cancel <job>",
       "Cancel a job: queued work is skipped, running work stops, finished videos are kept.",
       {},
       {},
       1,
       1,
       Cancel},
  };
  return specs;
}

const CommandSpec* FindCommand(const std::string& name) {
  for (const auto& c : Commands()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

std::string MainHelp(const Environment& env) {
  std::string h =
      "chansum - command line client of the Channel Summarizer API\n\n"
      "Usage: chansum [--api URL] [--token TOKEN] <command> [options]\n\nCommands:\n";
  for (const auto& c : Commands()) h += "  " + std::string(c.usage) + "\n";
  h += "\nGlobal options:\n"
       "  --api URL      API base URL (env CHANSUM_API; default " +
       DefaultApiUrl(env) +
       ", the local\n"
       "                 deployment `make demo` starts, on port CHANSUM_API_PORT)\n"
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

Options Parse(const std::vector<std::string>& argv) {
  Options o;
  const std::set<std::string> global_value = {"api", "token"};
  const std::set<std::string> global_bool = {"plain"};
  // Whether --name takes the next argument is decided before the command is known: a flag that
  // takes a value for any command takes it here.
  auto takes_value = [&](const std::string& name) {
    if (global_value.count(name) > 0) return true;
    for (const auto& c : Commands()) {
      if (c.value_flags.count(name) > 0) return true;
    }
    return false;
  };
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
        const std::string name = a.substr(2);
        raw.emplace_back(name, std::nullopt);
        if (takes_value(name)) {
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

}  // namespace chansum::cli
