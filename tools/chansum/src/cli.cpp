#include "chansum/cli/cli.hpp"

#include <exception>
#include <ostream>

#include "command_line.hpp"

namespace chansum::cli {

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
      out << MainHelp(env);
      return kExitOk;
    }
    err << "chansum: a command is required (see chansum --help)\n";
    return kExitUsage;
  }
  const CommandSpec& spec = *FindCommand(opts.command);
  if (opts.help) {
    out << CommandHelp(spec);
    return kExitOk;
  }
  try {
    Session session(opts, env, out, err, interactive);
    return spec.run(session);
  } catch (const std::exception& e) {
    err << "chansum: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}

}  // namespace chansum::cli
