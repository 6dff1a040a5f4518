#pragma once
// The stage's consumer as a service component (internal to the runner): one AMQP I/O thread that
// owns the consumer connection, hands deliveries to `concurrency` worker threads (each with its
// own PostgreSQL connection and Processor) and acks what they finish. Its readiness checks are
// "rabbitmq" and "postgres".
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "chansum/amqp/config.hpp"
#include "chansum/pg/pg.hpp"
#include "chansum/service/service.hpp"
#include "chansum/stage/leases.hpp"
#include "chansum/stage/stage.hpp"

namespace chansum::stage {

struct Health {
  std::atomic<bool> amqp_ok{false};
  std::atomic<int> pg_workers_ok{0};
  std::atomic<bool> pg_probe_ok{false};  // the lease loop's own connection answered lately
};

// What the consumer and its workers use; owned by RunStageService, outliving the component.
struct ConsumerDeps {
  const RunnerConfig& config;
  const HandlerFactory& make_handler;
  const pg::PgConfig& pg;
  const amqp::AmqpConfig& amqp;
  docstore::DocStore* docs = nullptr;
  TokenBudget* tokens = nullptr;
  LeaseKeeper& leases;
  Health& health;
};

class StageConsumer : public service::Component {
 public:
  explicit StageConsumer(ConsumerDeps deps);
  ~StageConsumer() override;

  [[nodiscard]] const std::string& Name() const override { return name_; }
  // Starts the workers and the AMQP I/O thread (which connects, retrying, in the background).
  Status Start() override;
  // Stops taking work (basic.cancel), gives back what no worker started and lets in-flight work
  // finish until `deadline` while the connection stays serviced; past it, the deliveries still in
  // progress are requeued and their workers abandoned (false: the process must then _Exit).
  bool Stop(service::Clock::time_point deadline) override;
  [[nodiscard]] std::vector<std::pair<std::string, Status>> Checks() const override;

  // Handlers still running after Stop (abandoned at the bound).
  [[nodiscard]] std::size_t abandoned() const noexcept { return abandoned_; }

 private:
  struct State;
  void Consume();
  void Drain();
  void Settle();
  void DropConsumer(const std::string& why);

  const std::string name_ = "consumer";
  ConsumerDeps deps_;
  std::unique_ptr<State> state_;
  std::atomic<bool> stop_{false};
  std::atomic<service::Clock::rep> deadline_{0};
  std::vector<std::thread> workers_;
  std::thread io_thread_;
  std::size_t abandoned_ = 0;
};

}  // namespace chansum::stage
