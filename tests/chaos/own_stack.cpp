#include "own_stack.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "chansum/testing/support.hpp"

namespace chansum::chaos {
namespace {

namespace fs = std::filesystem;

const fs::path kStack = fs::path(CHANSUM_SOURCE_DIR) / "deploy/local/stack";

bool PortFree(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

OwnStack::~OwnStack() { Down(); }

int OwnStack::Stack(const std::vector<std::string>& args, std::string* output) {
  std::vector<std::string> argv = {kStack.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  const int rc = testing::RunCommand(argv, &out);
  if (output != nullptr) *output = out;
  return rc;
}

bool OwnStack::Up(int port_shift, std::string* error) {
  // The committed default ports (stack.env), shifted; the caller's own overrides are ignored so
  // this instance can never land on the shared stack's ports.
  std::ifstream env_file(fs::path(CHANSUM_SOURCE_DIR) / "deploy/local/stack.env");
  const std::regex port_line(R"(^(CHANSUM_[A-Z_]*_PORT)=([0-9]+))");
  for (std::string line; std::getline(env_file, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, port_line)) continue;
    const int port = std::stoi(m[2]) + port_shift;
    if (!PortFree(port)) {
      *error = "port " + std::to_string(port) + " (" + m[1].str() +
               ") is in use: choose another CHAOS_PORT_SHIFT";
      return false;
    }
    ::setenv(m[1].str().c_str(), std::to_string(port).c_str(), 1);
  }
  run_dir_ = testing::MakeTempDir("chansum-chaos-stack");
  fs::permissions(run_dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
  ::setenv("CHANSUM_RUN_DIR", run_dir_.c_str(), 1);
  up_ = true;  // from here on Down() must run, also when `up` fails half way
  std::string out;
  if (Stack({"up"}, &out) != 0) {
    *error = "stack up failed:\n" + out;
    return false;
  }
  if (Stack({"env"}, &out) != 0) {
    *error = "stack env failed:\n" + out;
    return false;
  }
  const std::regex export_line(R"(^export ([A-Z_]+)='([^']*)')");
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, export_line))
      ::setenv(m[1].str().c_str(), m[2].str().c_str(), 1);
  }
  return true;
}

bool OwnStack::StopServer(const std::string& server, std::string* output) {
  return Stack({"stop", server}, output) == 0;
}

bool OwnStack::KillServer(const std::string& server, std::string* output) {
  return Stack({"kill", server}, output) == 0;
}

bool OwnStack::StartAll(std::string* output) { return Stack({"up"}, output) == 0; }

void OwnStack::Down() {
  if (!up_) return;
  up_ = false;
  Stack({"down"}, nullptr);
  std::error_code ec;
  fs::remove_all(run_dir_, ec);
}

}  // namespace chansum::chaos
