#pragma once
// The generic stage runner. Every stage service is this runner plus one handler:
//
//   Result<StageOutput> Handle(const protocol::Command&, StageContext&)
//
// The runner owns everything else: connections, prefetch = concurrency, acks, state transitions
// and timings in PostgreSQL, the next command (through the transactional outbox), retries with
// backoff, dead letters, logging context, health and SIGTERM. The handler only does the work and
// returns what it produced, or an Error whose class says whether a retry can help.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/config.hpp"
#include "chansum/common/result.hpp"
#include "chansum/http/exposure.hpp"
#include "chansum/pipeline/pipeline.hpp"
#include "chansum/protocol/command.hpp"
#include "chansum/store/store.hpp"

namespace chansum::docstore {
class DocStore;
}

namespace chansum::stage {

class TokenBudget;

struct StageContext {
  const store::Claim& claim;           // job options, video title, attempt number
  std::filesystem::path media_dir;     // MEDIA_DIR
  docstore::DocStore* docs = nullptr;  // set when the stage asked for the document store
  // True once the service is shutting down OR the job was cancelled: long handlers pass it to
  // child processes (killed) and check it between chunks of work.
  std::function<bool()> should_stop;
  // True once the job was cancelled (POST /jobs/{id}/cancel); checked in PostgreSQL at most once a
  // second. The runner then records nothing: the cancel already marked the video skipped.
  std::function<bool()> cancelled;
  TokenBudget* tokens = nullptr;  // set when the stage asked for the token budget
};

using StageOutput = pipeline::StageOutput;

using Handler = std::function<Result<StageOutput>(const protocol::Command&, StageContext&)>;
// Called once per worker thread, so a handler may keep per-thread state (e.g. an ASR decoder).
using HandlerFactory = std::function<Handler()>;

struct StageDefinition {
  protocol::Stage stage = protocol::Stage::kDiscovery;
  int default_concurrency = 1;
  bool needs_docstore = false;
  // The runner opens the job token budget (JOB_TOKEN_BUDGET, token_budget.hpp) on its PostgreSQL
  // and passes it as StageContext::tokens. Set by `configure` (e.g. only for a paid LLM backend).
  bool needs_token_budget = false;
  // A short handler takes milliseconds (e.g. the embedded TextRank summarizer, the instant test
  // handlers): the runner claims a batch, runs its handlers and records them in ONE transaction,
  // with no lease (a crash rolls the claim back and the broker redelivers). A long handler (media
  // work, remote APIs) claims with a lease in its own commit, so the sweeper can recover work
  // whose worker died, and runs one delivery at a time per worker. Set by `configure` when it
  // depends on the settings (e.g. summarization with a remote LLM is long).
  bool short_handler = false;
  // A job-level stage (discovery): its commands name a job, not a video, and its handler lists
  // the job's videos (StageOutput::discovered) instead of producing one video's next step.
  bool job_level = false;
  // Reads the handler's own settings at start (problems are collected in `env` and reported
  // together with the runner's) and returns the factory of per-thread handlers. It may change
  // the definition (e.g. short_handler) before the runner reads it.
  std::function<HandlerFactory(ConfigReader& env, StageDefinition& def)> configure;
};

struct RunnerConfig {
  std::string service;  // e.g. "download"
  protocol::Stage stage = protocol::Stage::kDiscovery;
  int concurrency = 1;         // <STAGE>_CONCURRENCY: worker threads
  bool short_handler = false;  // from the StageDefinition
  bool job_level = false;      // from the StageDefinition
  // BATCH_SIZE: most deliveries one worker of a short stage takes at once (every delivery that
  // is ready, up to this; one alone is never held back to wait for more). Long stages take one.
  int batch_size = 100;
  // PREFETCH: unacked deliveries the broker hands this process (basic.qos). Default: long stages
  // = concurrency (a slow stage scales out across instances); short stages = 2 batches per
  // worker, so the next batch is already here while one commits.
  int prefetch = 1;
  int max_attempts = 5;                              // MAX_ATTEMPTS: tries for transient failures
  std::chrono::milliseconds retry_base_delay{1000};  // RETRY_BASE_DELAY
  std::chrono::milliseconds retry_max_delay{60000};  // RETRY_MAX_DELAY
  int delivery_limit = 10;                           // DELIVERY_LIMIT: deliveries before the DLQ
  std::string queue_prefix;                          // QUEUE_PREFIX
  std::filesystem::path media_dir;                   // MEDIA_DIR
  int lease_seconds = 300;                           // LEASE_SECONDS
  std::string worker_id;                             // host:pid
  std::string health_addr = "127.0.0.1";             // HEALTH_ADDR
  int health_port = 0;                               // HEALTH_PORT (0 = no health endpoint)
  http::AccessConfig access;  // API_TOKEN, ALLOW_UNAUTHENTICATED, HTTP_* limits (health listener)
  // SHUTDOWN_TIMEOUT_SECONDS: after SIGTERM, how long in-flight handlers may take to finish;
  // past it their deliveries are handed back to the broker (requeued) and the process exits 0.
  std::chrono::seconds shutdown_timeout{30};

  [[nodiscard]] static RunnerConfig FromEnv(ConfigReader& env, const StageDefinition& def);
  [[nodiscard]] std::string Queue() const { return protocol::QueueName(queue_prefix, stage); }
};

// Delay before retry number `attempt` (1-based): base * 2^(attempt-1), capped, with jitter in
// [50%, 100%] of that.
[[nodiscard]] std::chrono::milliseconds RetryDelay(const RunnerConfig& config, int attempt);
[[nodiscard]] pipeline::RetryPolicy Policy(const RunnerConfig& config);

// Runs a stage service until SIGTERM/SIGINT: reads the environment, logs as JSON, migrates the
// schema, then runs its components (libs/service) — the health/metrics listener (HEALTH_PORT), the
// lease loop, the document store check, the outbox relays and the consumer with `concurrency`
// workers — and stops them in reverse order within SHUTDOWN_TIMEOUT_SECONDS. Returns the exit
// code (0 after a shutdown, also one that abandoned handlers at the bound; 1 when the schema
// cannot be applied; 2 for configuration errors or a document store that cannot be opened).
int RunStageService(const StageDefinition& definition);

}  // namespace chansum::stage
