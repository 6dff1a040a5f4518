#pragma once
// A local stack of the test's own (deploy/local/stack with its own CHANSUM_RUN_DIR and every port
// shifted), so servers can be stopped and restarted without touching the shared stack: the same
// four servers as the shared one, FerretDB as the Mongo-wire server with its data in this stack's
// own PostgreSQL (database `ferretdb`). Up() also points this process's DATABASE_URL, AMQP_URL,
// KAFKA_BROKERS and MONGO_URI at it (children inherit them). The destructor takes the stack down
// and removes its run directory.
#include <filesystem>
#include <string>
#include <vector>

namespace chansum::chaos {

class OwnStack {
 public:
  OwnStack() = default;
  ~OwnStack();
  OwnStack(const OwnStack&) = delete;
  OwnStack& operator=(const OwnStack&) = delete;

  // Brings the stack up on the default ports + `port_shift`. False (with the output in
  // `error`) when a port is taken or a server does not start.
  bool Up(int port_shift, std::string* error);
  // Stops one server (postgres, rabbitmq, kafka, mongo) / starts whatever is not running.
  // FerretDB stays up while PostgreSQL is stopped but fails every command, its ping included, so
  // a postgres outage is a document-store outage too.
  bool StopServer(const std::string& server, std::string* output = nullptr);
  // Kills one server's main process with SIGKILL (`stack kill`): nothing cleaned up after it, so
  // StartAll() recovers it the way a user's `stack up` after a crash would.
  bool KillServer(const std::string& server, std::string* output = nullptr);
  bool StartAll(std::string* output = nullptr);
  void Down();

 private:
  int Stack(const std::vector<std::string>& args, std::string* output);
  std::filesystem::path run_dir_;
  bool up_ = false;
};

}  // namespace chansum::chaos
