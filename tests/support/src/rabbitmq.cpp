#include "chansum/testing/rabbitmq.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace chansum::testing {

std::string RunShell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  ::pclose(pipe);
  return out;
}

std::string RabbitmqctlCommand() {
  const char* run_dir = std::getenv("CHANSUM_RUN_DIR");
  if (run_dir == nullptr) return {};
  std::ifstream pid_file(std::string(run_dir) + "/rabbitmq/rabbitmq.pid");
  std::string pid;
  if (!(pid_file >> pid)) return {};
  std::ifstream environ("/proc/" + pid + "/environ", std::ios::binary);
  std::string env = "env";
  for (std::string entry; std::getline(environ, entry, '\0');) {
    for (const char* key : {"HOME=", "RABBITMQ_NODENAME=", "ERL_EPMD_PORT=", "ERL_EPMD_ADDRESS="}) {
      if (entry.rfind(key, 0) == 0) env += " '" + entry + "'";
    }
  }
  if (env.find("RABBITMQ_NODENAME=") == std::string::npos) return {};
  return env + " /usr/lib/rabbitmq/bin/rabbitmqctl -q";
}

bool ForceCloseConnection(const std::string& rabbitmqctl, const std::string& name) {
  std::istringstream lines(
      RunShell(rabbitmqctl + " list_connections pid client_properties 2>/dev/null"));
  const std::string marker = "{\"connection_name\",\"" + name + "\"}";
  for (std::string line; std::getline(lines, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos || line.find(marker) == std::string::npos) continue;
    RunShell(rabbitmqctl + " close_connection '" + line.substr(0, tab) +
             "' 'killed by a test' 2>&1");
    return true;
  }
  return false;
}

}  // namespace chansum::testing
