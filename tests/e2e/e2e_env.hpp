#pragma once
// Starts the real service binaries for an end-to-end test, isolated from anything else on the
// same stack by a unique queue prefix, media dir and ports.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "chansum/testing/support.hpp"

namespace chansum::e2e {

struct ServiceSet {
  std::filesystem::path dir;  // temp dir: logs, media
  std::string queue_prefix;
  int api_port = 0;
  std::map<std::string, int> ports;  // service name -> its HTTP port (API, analytics or health)
  std::string mongo_uri;             // the run's own document store database
  std::vector<std::unique_ptr<testing::ChildProcess>> children;
  std::vector<std::string> names;  // service name of each child

  // Set before Start: a service's argv instead of <bin>/chansum-<name> (e.g. the instant
  // stages; keyed by service, not instance).
  std::map<std::string, std::vector<std::string>> commands;
  // Extra environment: "NAME" for every service, "<service>:NAME" for one service's instances.
  std::map<std::string, std::string> extra_env;

  // Starts the orchestrator and the given stages ("<stage>#<n>" starts another instance of a
  // stage, e.g. "transcription#2"); waits until each reports ready.
  // Returns false (with a test failure carrying the logs) when one does not become ready.
  bool Start(const std::vector<std::string>& stages);
  void Stop();
  // Fault injection: SIGKILL one service (no grace), and start it again like a supervisor would
  // (same argv, environment and log file, appended).
  void Kill(const std::string& name);
  void Respawn(const std::string& name);
  // Starts again every service that exited without Kill (a crash); returns their names.
  std::vector<std::string> Supervise();
  // True once the service answers GET /readyz with 200 within `timeout`.
  bool WaitReady(const std::string& name, std::chrono::seconds timeout);
  [[nodiscard]] httplib::Client Api() const;
  [[nodiscard]] httplib::Client Client(const std::string& service) const;
  [[nodiscard]] std::filesystem::path AuditLogDir() const { return dir / "audit"; }
  [[nodiscard]] std::string Logs() const;

 private:
  std::unique_ptr<testing::ChildProcess> Spawn(const std::string& name);
  std::size_t IndexOf(const std::string& name) const;
  std::map<std::string, std::map<std::string, std::string>> envs_;
};

// Polls GET /jobs/{id} every `interval` until the job's state is terminal (not queued or
// running) or `timeout` passes; the last job read is left in *job. True when it ended.
bool WaitJobEnded(httplib::Client& api, const std::string& job_id,
                  std::chrono::milliseconds timeout, std::chrono::milliseconds interval,
                  nlohmann::json* job);

// The offline demo channel (tests/fixtures/demo_channel) generated into a temp dir and served by
// chansum_demo_server on a free loopback port.
struct DemoChannel {
  std::filesystem::path dir;
  std::string base_url;  // http://127.0.0.1:<port>
  std::unique_ptr<testing::ChildProcess> server;

  // Generates and serves it, waiting (10 s at most) until the feed answers. Returns what went
  // wrong (generator output or the server's log), empty on success.
  [[nodiscard]] std::string Start(const std::string& temp_prefix);
  [[nodiscard]] std::string FeedUrl() const { return base_url + "/feed.xml"; }
};

// Base of the fixtures that run the demo channel through the services: SetUp checks the stack's
// variables (DATABASE_URL, AMQP_URL, MONGO_URI, and KAFKA_BROKERS when `kafka`) and serves the
// demo channel, runs BeforeServices (e.g. a stub the services talk to), then starts `stages` (set
// `services_.extra_env` before); TearDown stops both and removes their directories, keeping (and
// naming) the services' logs when the test failed.
class DemoPipelineTest : public ::testing::Test {
 protected:
  DemoPipelineTest(std::string temp_prefix, std::vector<std::string> stages, bool kafka)
      : temp_prefix_(std::move(temp_prefix)), stages_(std::move(stages)), kafka_(kafka) {}
  void SetUp() override;
  void TearDown() override;
  // Called by SetUp once the demo channel is served, before the services start (e.g. to point a
  // setting at demo_.base_url).
  virtual void BeforeServices() {}

  DemoChannel demo_;
  ServiceSet services_;

 private:
  const std::string temp_prefix_;
  const std::vector<std::string> stages_;
  const bool kafka_;
};

}  // namespace chansum::e2e
