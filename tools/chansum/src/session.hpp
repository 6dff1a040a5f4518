#pragma once
// What every subcommand shares: the parsed command line, the API client, the output streams and
// the one-line failures with their exit codes.
#include <iosfwd>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "chansum/cli/api_client.hpp"
#include "chansum/cli/cli.hpp"

namespace chansum::cli {

struct Session {
  Session(const Options& o, const Environment& env, std::ostream& out_stream,
          std::ostream& err_stream, bool is_interactive);

  // The value of --name, or `dflt` when it was not given.
  [[nodiscard]] std::string Flag(const std::string& name, const std::string& dflt) const;
  [[nodiscard]] bool Has(const std::string& name) const { return opts.flags.count(name) > 0; }

  // Prints "chansum: <message>" to err and returns `code`.
  int Fail(int code, const std::string& message);
  // A transport error or an unexpected status -> the right exit code and one line.
  int FailResponse(const Result<HttpResponse>& r);
  // GET/POST expecting `ok_status` and a JSON body; nullopt after printing the failure, whose exit
  // code is put in `exit_code`.
  std::optional<nlohmann::json> Call(const std::string& method, const std::string& path,
                                     const std::string& body, int ok_status, int* exit_code);

  const Options& opts;
  std::ostream& out;
  std::ostream& err;
  bool interactive;  // progress redrawn in place (a terminal, no --plain)
  ApiClient client;
};

// Encodes a path segment (ids are [A-Za-z0-9_.:-] in practice; anything else is escaped).
[[nodiscard]] std::string Segment(const std::string& s);

// Seconds since the epoch.
[[nodiscard]] double Now();

}  // namespace chansum::cli
