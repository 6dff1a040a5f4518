#include "e2e_env.hpp"

#include <iostream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace chansum::e2e {

bool ServiceSet::Start(const std::vector<std::string>& stages) {
  dir = testing::MakeTempDir("chansum-e2e");
  queue_prefix = "e2e-" + testing::RandomSuffix() + ".";
  api_port = testing::FreePort();
  // A database of its own in the document store, so transcripts from earlier runs (which the
  // transcription stage would reuse) never stand in for this run's work.
  mongo_uri = testing::RequireEnv("MONGO_URI");
  const auto slash = mongo_uri.find('/', mongo_uri.find("://") + 3);
  const auto query = mongo_uri.find('?');
  mongo_uri = mongo_uri.substr(0, slash) + "/e2e_" + testing::RandomSuffix() +
              (query == std::string::npos ? "" : mongo_uri.substr(query));
  std::map<std::string, std::string> env = {
      {"MONGO_URI", mongo_uri},
      {"QUEUE_PREFIX", queue_prefix},
      {"MEDIA_DIR", (dir / "media").string()},
      {"HTTP_PORT", std::to_string(api_port)},
      {"LOG_LEVEL", "info"},
      {"RETRY_BASE_DELAY", "200ms"},
      {"RETRY_MAX_DELAY", "2s"},
      // The demo and stub servers listen on 127.0.0.1; outbound fetches refuse loopback unless
      // allow-listed (a test may narrow this through extra_env).
      {"FETCH_ALLOWLIST", "127.0.0.1"},
  };
  std::vector<std::pair<std::string, int>> ready_ports;
  std::vector<std::string> all = {"orchestrator"};
  all.insert(all.end(), stages.begin(), stages.end());
  for (const auto& name : all) {
    auto svc_env = env;
    // "transcription#2": a second instance of transcription (same queues, its own port and log).
    const std::string service = name.substr(0, name.find('#'));
    for (const auto& [k, v] : extra_env) {
      if (k.rfind(service + ":", 0) == 0) svc_env[k.substr(service.size() + 1)] = v;
      if (k.find(':') == std::string::npos) svc_env[k] = v;
    }
    int port = api_port;
    if (service == "analytics") {
      port = testing::FreePort();
      svc_env["ANALYTICS_HTTP_PORT"] = std::to_string(port);
    } else if (name != "orchestrator") {
      port = testing::FreePort();
      svc_env["HEALTH_PORT"] = std::to_string(port);
    }
    if (service == "event_logger") svc_env["AUDIT_LOG_DIR"] = AuditLogDir().string();
    ports[name] = port;
    envs_[name] = std::move(svc_env);
    names.push_back(name);
    children.push_back(Spawn(name));
    ready_ports.emplace_back(name, port);
  }
  for (const auto& [name, port] : ready_ports) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(1);
    const bool ready = testing::WaitFor(
        [&] {
          auto res = client.Get("/readyz");
          return res && res->status == 200;
        },
        std::chrono::seconds(60));
    if (!ready) {
      ADD_FAILURE() << name << " did not become ready within 60 s\n" << Logs();
      return false;
    }
  }
  return true;
}

void ServiceSet::Stop() {
  for (auto& c : children) {
    const int status = c->Stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << c->log_file().filename() << " did not exit 0 on SIGTERM (status " << status << ")\n"
        << c->LogTail(2000);
  }
  children.clear();
  names.clear();
}

std::unique_ptr<testing::ChildProcess> ServiceSet::Spawn(const std::string& name) {
  const std::string service = name.substr(0, name.find('#'));
  std::vector<std::string> argv;
  if (auto it = commands.find(service); it != commands.end()) {
    argv = it->second;
  } else {
    std::string bin = std::string(CHANSUM_BIN_DIR) + "/chansum-" + service;
    for (auto& c : bin) {
      if (c == '_') c = '-';
    }
    argv = {bin};
  }
  std::string log_name = name;
  for (auto& c : log_name) {
    if (c == '#') c = '-';
  }
  return std::make_unique<testing::ChildProcess>(argv, envs_.at(name), dir / (log_name + ".log"));
}

std::size_t ServiceSet::IndexOf(const std::string& name) const {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return i;
  }
  throw std::out_of_range("no service " + name);
}

void ServiceSet::Kill(const std::string& name) { children[IndexOf(name)]->Kill(); }

void ServiceSet::Respawn(const std::string& name) {
  auto& child = children[IndexOf(name)];
  child->Kill();  // no-op when it is already gone
  child = Spawn(name);
}

std::vector<std::string> ServiceSet::Supervise() {
  std::vector<std::string> restarted;
  for (std::size_t i = 0; i < children.size(); ++i) {
    if (!children[i]->Running()) {
      restarted.push_back(names[i]);
      children[i] = Spawn(names[i]);
    }
  }
  return restarted;
}

bool ServiceSet::WaitReady(const std::string& name, std::chrono::seconds timeout) {
  httplib::Client client("127.0.0.1", ports.at(name));
  client.set_connection_timeout(1);
  client.set_read_timeout(5);
  return testing::WaitFor(
      [&] {
        auto res = client.Get("/readyz");
        return res && res->status == 200;
      },
      timeout);
}

httplib::Client ServiceSet::Client(const std::string& service) const {
  httplib::Client client("127.0.0.1", ports.at(service));
  client.set_connection_timeout(5);
  client.set_read_timeout(30);
  return client;
}

httplib::Client ServiceSet::Api() const {
  httplib::Client client("127.0.0.1", api_port);
  client.set_connection_timeout(5);
  client.set_read_timeout(30);
  return client;
}

std::string ServiceSet::Logs() const {
  std::string out;
  for (const auto& c : children) {
    out += "---- " + c->log_file().filename().string() + " ----\n" + c->LogTail(3000) + "\n";
  }
  return out;
}

std::string DemoChannel::Start(const std::string& temp_prefix) {
  dir = testing::MakeTempDir(temp_prefix);
  const int port = testing::FreePort();
  base_url = "http://127.0.0.1:" + std::to_string(port);
  std::string out;
  if (testing::RunCommand(
          {std::string(CHANSUM_SOURCE_DIR) + "/tests/fixtures/demo_channel/generate", dir.string(),
           "--base-url", base_url},
          &out) != 0) {
    return "demo channel generation failed:\n" + out;
  }
  server = std::make_unique<testing::ChildProcess>(
      std::vector<std::string>{std::string(CHANSUM_BIN_DIR) + "/chansum_demo_server", "--root",
                               dir.string(), "--port", std::to_string(port)},
      std::map<std::string, std::string>{}, dir / "server.log");
  httplib::Client demo("127.0.0.1", port);
  const bool up = testing::WaitFor(
      [&] {
        auto r = demo.Get("/feed.xml");
        return r && r->status == 200;
      },
      std::chrono::seconds(10));
  return up ? std::string() : "the demo server did not serve its feed:\n" + server->LogTail();
}

bool WaitJobEnded(httplib::Client& api, const std::string& job_id,
                  std::chrono::milliseconds timeout, std::chrono::milliseconds interval,
                  nlohmann::json* job) {
  return testing::WaitFor(
      [&] {
        auto r = api.Get("/jobs/" + job_id);
        if (!r || r->status != 200) return false;
        *job = nlohmann::json::parse(r->body, nullptr, false);
        if (!job->is_object()) return false;
        const auto state = job->value("state", std::string());
        return !state.empty() && state != "queued" && state != "running";
      },
      timeout, interval);
}

void DemoPipelineTest::SetUp() {
  std::vector<const char*> vars = {"DATABASE_URL", "AMQP_URL", "MONGO_URI"};
  if (kafka_) vars.push_back("KAFKA_BROKERS");
  for (const char* v : vars) ASSERT_FALSE(testing::RequireEnv(v).empty());
  const std::string demo_error = demo_.Start(temp_prefix_);
  ASSERT_TRUE(demo_error.empty()) << demo_error;
  BeforeServices();
  ASSERT_TRUE(services_.Start(stages_));
}

void DemoPipelineTest::TearDown() {
  services_.Stop();
  demo_.server.reset();
  std::error_code ec;
  std::filesystem::remove_all(demo_.dir, ec);
  if (HasFailure()) {
    std::cerr << "service logs kept in " << services_.dir << "\n";
  } else {
    std::filesystem::remove_all(services_.dir, ec);
  }
}

}  // namespace chansum::e2e
