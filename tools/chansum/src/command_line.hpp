#pragma once
// The command table (name, usage, help, flags, arguments, the function that runs it), the parser
// of argv and the help texts.
#include <set>
#include <string>
#include <vector>

#include "chansum/cli/cli.hpp"
#include "session.hpp"

namespace chansum::cli {

struct CommandSpec {
  const char* name;
  const char* usage;
  const char* summary;
  std::set<std::string> value_flags;  // flags taking a value
  std::set<std::string> bool_flags;
  int min_args;
  int max_args;
  int (*run)(Session&);
};

[[nodiscard]] const std::vector<CommandSpec>& Commands();
[[nodiscard]] const CommandSpec* FindCommand(const std::string& name);

// A bad command line, with its one-line message.
struct UsageError {
  std::string message;
};

// Parses argv (without the program name); throws UsageError.
[[nodiscard]] Options Parse(const std::vector<std::string>& argv);

// `chansum --help`; the default API address shown is the one `env` gives.
[[nodiscard]] std::string MainHelp(const Environment& env);
[[nodiscard]] std::string CommandHelp(const CommandSpec& c);

}  // namespace chansum::cli
