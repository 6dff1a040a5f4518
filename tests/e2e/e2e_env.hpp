#pragma once
// Starts the real service binaries for an end-to-end test, isolated from anything else on the
// same stack by a unique queue prefix, media dir and ports.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <httplib.h>

#include "chansum/testing/support.hpp"

namespace chansum::e2e {

struct ServiceSet {
  std::filesystem::path dir;  // temp dir: logs, media
  std::string queue_prefix;
  int api_port = 0;
  std::map<std::string, int> ports;  // service name -> its HTTP port (API, analytics or health)
  std::vector<std::unique_ptr<testing::ChildProcess>> children;
  // Extra environment: "NAME" for every service, "<service>:NAME" for one service's instances.
  std::map<std::string, std::string> extra_env;

  // Starts the orchestrator and the given stages ("<stage>#<n>" starts another instance of a
  // stage, e.g. "transcription#2"); waits until each reports ready.
  // Returns false (with a test failure carrying the logs) when one does not become ready.
  bool Start(const std::vector<std::string>& stages);
  void Stop();
  [[nodiscard]] httplib::Client Api() const;
  [[nodiscard]] httplib::Client Client(const std::string& service) const;
  [[nodiscard]] std::filesystem::path AuditLogDir() const { return dir / "audit"; }
  [[nodiscard]] std::string Logs() const;
};

}  // namespace chansum::e2e
