#include "chaos_run.hpp"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "chansum/amqp/publisher.hpp"
#include "chansum/common/config.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/kafka/consumer.hpp"
#include "chansum/protocol/command.hpp"
#include "chansum/protocol/events.hpp"
#include "chansum/stage/processor.hpp"

namespace chansum::chaos {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 1000.0;
}

bool Terminal(const std::string& state) {
  return state == "completed" || state == "completed_with_errors" || state == "failed" ||
         state == "cancelled";
}

std::unique_ptr<amqp::Publisher> OpenPublisher() {
  ConfigReader env(
      std::map<std::string, std::string>{{"AMQP_URL", testing::RequireEnv("AMQP_URL")}});
  auto config = amqp::AmqpConfig::FromEnv(env);
  auto publisher = amqp::Publisher::Open(config, "chaos-injector");
  if (!publisher.ok()) {
    ADD_FAILURE() << "cannot open a publisher: " << publisher.error().ToString();
    return nullptr;
  }
  return std::move(*publisher);
}

struct VideoRow {
  std::string state;
  std::string last_error;
  std::string skipped_stages;  // ",audio_extraction,transcription," when captions were used
};

}  // namespace

json RunFigures::ToJson() const {
  return {{"scenario", scenario},
          {"job_id", job_id},
          {"faults", faults},
          {"videos", videos},
          {"expected_videos", expected_videos},
          {"done", done},
          {"failed", failed},
          {"expected_failed", expected_failed},
          {"lost", lost},
          {"stuck", stuck},
          {"unexpected_failed", unexpected_failed},
          {"failed_without_reason", failed_without_reason},
          {"duplicate_documents", duplicate_documents},
          {"kafka_missing", kafka_missing},
          {"kafka_redelivered", kafka_redelivered},
          {"double_emitted", double_emitted},
          {"audit_missing", audit_missing},
          {"analytics_exact", analytics_exact},
          {"absorbed", absorbed},
          {"crashes", crashes},
          {"handler_runs",
           [this] {
             json by_stage = json::object();
             for (const auto& [stage, r] : handler_runs) {
               by_stage[stage] = {{"runs", r.runs},           {"items", r.items},
                                  {"run_twice", r.run_twice}, {"max_runs", r.max_runs},
                                  {"ok_twice", r.ok_twice},   {"extra_runs", r.extra_runs}};
             }
             return by_stage;
           }()},
          {"recover_s", recover_s},
          {"total_s", total_s},
          {"problems", problems}};
}

std::string ChaosRun::Submit(const std::string& channel, int max_videos) {
  const json request = {{"channel", channel}, {"max_videos", max_videos}};
  std::string job_id;
  testing::WaitFor(
      [&] {
        Pump(std::chrono::milliseconds(0));
        auto api = services_.Api();
        auto r = api.Post("/jobs", request.dump(), "application/json");
        if (!r || r->status != 202) return false;
        job_id = json::parse(r->body).at("job_id").get<std::string>();
        return true;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(500));
  EXPECT_FALSE(job_id.empty()) << "could not submit a job\n" << services_.Logs();
  return job_id;
}

void ChaosRun::Pump(std::chrono::milliseconds d) {
  const auto until = Clock::now() + d;
  do {
    for (const auto& name : services_.Supervise()) {
      ++crashes_;
      std::cerr << "[chaos] " << name << " exited by itself; restarted\n";
    }
    if (Clock::now() >= until) break;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(100), until - Clock::now()));
  } while (Clock::now() < until);
}

void ChaosRun::KillAndRestart(const std::string& name, std::chrono::milliseconds down_for) {
  services_.Kill(name);
  std::this_thread::sleep_for(down_for);  // not Pump: the supervisor must not restart it first
  services_.Respawn(name);
}

int ChaosRun::AbsorbedSoFar() const {
  // Lines the services write when they absorb a duplicate: a redelivered or copied command whose
  // stage is already done (skipped / duplicate), an event analytics has already applied.
  static const char* kMarks[] = {"skipped: already_done", "duplicate: another delivery",
                                 "duplicate event"};
  int n = 0;
  for (const auto& name : services_.names) {
    std::ifstream in(services_.dir / (name + ".log"));
    for (std::string line; std::getline(in, line);) {
      for (const char* m : kMarks) {
        if (line.find(m) != std::string::npos) ++n;
      }
    }
  }
  return n;
}

std::map<std::pair<std::string, std::string>, std::pair<int, int>> ChaosRun::HandlerRuns(
    const std::string& job_id) const {
  // The logs are the record here, not the metrics endpoint: a service killed with SIGKILL takes
  // its counters with it (a scrape before the kill misses what ran since), while its log file
  // keeps every line written (stderr is unbuffered, appended across restarts), and the started
  // line is written before the handler runs.
  const std::string started = stage::kHandlerRunStarted;
  const std::string finished_ok = std::string(stage::kHandlerRunFinished) + "ok ";
  std::map<std::pair<std::string, std::string>, std::pair<int, int>> runs;
  for (const auto& name : services_.names) {
    std::ifstream in(services_.dir / (name + ".log"));
    for (std::string line; std::getline(in, line);) {
      if (line.find(stage::kHandlerRunFinished) == std::string::npos ||
          line.find(job_id) == std::string::npos) {
        continue;
      }
      const auto e = json::parse(line, nullptr, false);
      if (e.is_discarded() || !e.is_object() || e.value("job_id", "") != job_id) continue;
      const auto msg = e.value("msg", "");
      const bool is_start = msg == started;
      const bool is_ok = msg.rfind(finished_ok, 0) == 0;
      if (!is_start && !is_ok) continue;
      auto& r = runs[{e.value("stage", "?"), e.value("video_id", job_id)}];
      (is_start ? r.first : r.second) += 1;
    }
  }
  return runs;
}

int ChaosRun::PublishDuplicates(const std::string& job_id, int copies) {
  std::vector<amqp::Message> messages;
  {
    pqxx::connection conn(testing::RequireEnv("DATABASE_URL"));
    pqxx::work txn(conn);
    auto rows = txn.exec_params(
        "SELECT exchange, routing_key, message_id, payload FROM outbox "
        "WHERE destination = 'amqp' AND published_at IS NOT NULL "
        "AND payload::jsonb->>'job_id' = $1 ORDER BY id",
        job_id);
    for (const auto& r : rows) {
      amqp::Message m;
      m.exchange = r[0].as<std::string>();
      m.routing_key = r[1].as<std::string>();
      m.message_id = r[2].as<std::string>();
      m.body = r[3].as<std::string>();
      for (int i = 0; i < copies; ++i) messages.push_back(m);
    }
  }
  auto publisher = OpenPublisher();
  if (!publisher || messages.empty()) return 0;
  std::vector<amqp::PublishOutcome> outcomes;
  auto st = publisher->PublishBatch(messages, &outcomes);
  EXPECT_TRUE(st.ok()) << st.error().ToString();
  int n = 0;
  for (auto o : outcomes) n += o == amqp::PublishOutcome::kConfirmed ? 1 : 0;
  return n;
}

int ChaosRun::PublishInFlightCopies(const std::string& job_id, std::chrono::milliseconds d) {
  auto publisher = OpenPublisher();
  if (!publisher) return 0;
  pqxx::connection conn(testing::RequireEnv("DATABASE_URL"));
  int n = 0;
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
    std::vector<amqp::Message> messages;
    {
      pqxx::work txn(conn);
      // The command that put the video in its current stage: published, on that stage's queue.
      auto rows = txn.exec_params(
          "SELECT o.exchange, o.routing_key, o.message_id, o.payload FROM videos v "
          "JOIN outbox o ON o.destination = 'amqp' AND o.published_at IS NOT NULL "
          "AND o.routing_key = $2 || v.stage AND o.payload::jsonb->>'job_id' = $1 "
          "AND o.payload::jsonb->>'video_id' = v.video_id "
          "WHERE v.job_id = $1::uuid AND v.state = 'running' AND v.lease_expires_at > now()",
          job_id, services_.queue_prefix);
      for (const auto& r : rows) {
        amqp::Message m;
        m.exchange = r[0].as<std::string>();
        m.routing_key = r[1].as<std::string>();
        m.message_id = r[2].as<std::string>();
        m.body = r[3].as<std::string>();
        messages.push_back(std::move(m));
      }
    }
    if (!messages.empty()) {
      std::vector<amqp::PublishOutcome> outcomes;
      auto st = publisher->PublishBatch(messages, &outcomes);
      EXPECT_TRUE(st.ok()) << st.error().ToString();
      for (auto o : outcomes) n += o == amqp::PublishOutcome::kConfirmed ? 1 : 0;
    }
    Pump(std::chrono::milliseconds(20));
  }
  return n;
}

int ChaosRun::PublishMalformed() {
  const std::vector<std::string> bodies = {
      "",
      "not json at all",
      "{\"type\":",
      "[1,2,3]",
      "{}",
      R"({"type":"download.requested","version":1,"message_id":"m","job_id":"x"})",
      R"({"type":"download.requested","version":99,"message_id":"m","job_id":"00000000-0000-0000-0000-000000000000","video_id":"v","attempt":1,"trace_id":"t","occurred_at":"2026-01-01T00:00:00Z","data":{"url":"http://instant.invalid/v/x"}})",
      std::string(70000, '{'),
      "\xff\xfe\x00\x01 binary",
  };
  std::vector<amqp::Message> messages;
  for (auto stage : protocol::kAllStages) {
    for (const auto& b : bodies) {
      amqp::Message m;
      m.routing_key = protocol::QueueName(services_.queue_prefix, stage);
      m.message_id = "malformed-" + testing::RandomSuffix();
      m.body = b;
      m.mandatory = true;
      messages.push_back(m);
    }
    // A valid command of another stage on this queue.
    auto wrong =
        protocol::NewCommand(stage == protocol::Stage::kDiscovery ? protocol::Stage::kSummarization
                                                                  : protocol::Stage::kDiscovery,
                             "00000000-0000-0000-0000-000000000000", "v", "t", json::object());
    amqp::Message m;
    m.routing_key = protocol::QueueName(services_.queue_prefix, stage);
    m.message_id = wrong.message_id;
    m.body = protocol::Serialize(wrong);
    m.mandatory = true;
    messages.push_back(m);
  }
  for (const auto& b : bodies) {
    amqp::Message m;
    m.exchange = protocol::EventsExchange(services_.queue_prefix);
    m.routing_key = "video.discovered";
    m.message_id = "malformed-" + testing::RandomSuffix();
    m.body = b;
    messages.push_back(m);
  }
  auto publisher = OpenPublisher();
  if (!publisher) return 0;
  std::vector<amqp::PublishOutcome> outcomes;
  auto st = publisher->PublishBatch(messages, &outcomes);
  EXPECT_TRUE(st.ok()) << st.error().ToString();
  int n = 0;
  for (auto o : outcomes) n += o == amqp::PublishOutcome::kConfirmed ? 1 : 0;
  return n;
}

void ChaosRun::Check(RunFigures& f, Clock::time_point submitted, Clock::time_point last_fault_end,
                     const std::function<bool(const std::string&)>& meant_to_fail,
                     std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const int crashes_before = crashes_;
  auto problem = [&](const std::string& p) { f.problems.push_back(p); };

  // 1. The job ends (every video terminal).
  std::string state;
  while (Clock::now() < deadline) {
    Pump(std::chrono::milliseconds(500));
    auto api = services_.Api();
    api.set_read_timeout(5);
    auto r = api.Get("/jobs/" + f.job_id);
    if (r && r->status == 200) {
      state = json::parse(r->body).at("state").get<std::string>();
      if (Terminal(state)) break;
    }
  }
  if (!Terminal(state)) problem("job not terminal (state " + state + ")");

  // 2. PostgreSQL: every video present and terminal, failures with a reason.
  std::map<std::string, VideoRow> rows;
  {
    pqxx::connection conn(testing::RequireEnv("DATABASE_URL"));
    pqxx::work txn(conn);
    for (const auto& r : txn.exec_params(
             "SELECT video_id, state, coalesce(last_error, ''), ',' || coalesce((SELECT "
             "string_agg(key, ',') FROM jsonb_each(timings) WHERE value->>'skipped' = 'true'), "
             "'') || ',' FROM videos WHERE job_id = $1::uuid",
             f.job_id)) {
      rows[r[0].as<std::string>()] = {r[1].as<std::string>(), r[2].as<std::string>(),
                                      r[3].as<std::string>()};
    }
  }
  f.videos = static_cast<int>(rows.size());
  f.lost = std::max(0, f.expected_videos - f.videos);
  std::vector<std::string> done_ids;
  for (const auto& [id, row] : rows) {
    if (row.state == "done") {
      ++f.done;
      done_ids.push_back(id);
    } else if (row.state == "failed") {
      ++f.failed;
      if (row.last_error.empty()) ++f.failed_without_reason;
      if (!meant_to_fail(id)) {
        ++f.unexpected_failed;
        problem("video " + id + " failed: " + row.last_error);
      }
    } else {
      ++f.stuck;
      problem("video " + id + " stuck in state " + row.state);
    }
  }
  if (f.lost > 0) problem(std::to_string(f.lost) + " videos never recorded");
  if (f.failed_without_reason > 0) problem("failed videos without a reason");

  // 3. Document store: exactly one transcript and one summary per done video.
  {
    ConfigReader env(std::map<std::string, std::string>{{"MONGO_URI", services_.mongo_uri}});
    const auto config = docstore::DocstoreConfig::FromEnv(env);
    auto docs = docstore::DocStore::Open(config);
    if (!docs.ok()) {
      problem("docstore: " + docs.error().ToString());
    } else {
      for (const auto& id : done_ids) {
        for (const char* collection : {"transcripts", "summaries"}) {
          Result<std::int64_t> n = Error::Transient("init", "");
          testing::WaitFor(
              [&] {
                n = (*docs)->Count(collection, {{"_id", id}});
                return n.ok();
              },
              std::chrono::seconds(20));
          if (!n.ok()) {
            problem(std::string("docstore count: ") + n.error().ToString());
          } else if (*n == 0) {
            ++f.lost;
            problem(std::string("no ") + collection + " document for done video " + id);
          } else if (*n > 1) {
            f.duplicate_documents += static_cast<int>(*n - 1);
            problem(std::to_string(*n) + " " + collection + " documents for " + id);
          }
        }
      }
    }
  }

  // 4. Kafka: every event of the job at least once (topics read from the beginning).
  std::map<std::pair<std::string, std::string>, int> expected;  // (type, key) -> 0 until seen
  for (const auto& [id, row] : rows) {
    expected[{"video.discovered", id}] = 0;
    if (row.state == "done") {
      for (const char* t : {"video.downloaded", "audio.extracted", "transcription.completed",
                            "summarization.completed"}) {
        // Captions first: the stages a video skipped emit no event.
        if ((std::string(t) == "audio.extracted" &&
             row.skipped_stages.find(",audio_extraction,") != std::string::npos) ||
            (std::string(t) == "transcription.completed" &&
             row.skipped_stages.find(",transcription,") != std::string::npos)) {
          continue;
        }
        expected[{t, id}] = 0;
      }
    } else if (row.state == "failed") {
      expected[{"video.failed", id}] = 0;
    }
  }
  expected[{"job.completed", f.job_id}] = 0;
  std::map<std::string, int> seen_ids;
  std::map<std::pair<std::string, std::string>, std::set<std::string>> ids_by_fact;
  {
    kafka::KafkaConfig kafka_config;
    kafka_config.brokers = testing::RequireEnv("KAFKA_BROKERS");
    kafka_config.client_id = "chaos-check";
    auto consumer = kafka::Consumer::Create(
        kafka_config,
        {"chaos-check-" + std::to_string(++kafka_cycle_) + "-" + testing::RandomSuffix(),
         "earliest"});
    if (!consumer.ok() ||
        !(*consumer)->Subscribe(protocol::EventTopics(services_.queue_prefix)).ok()) {
      problem("cannot read Kafka");
    } else {
      auto missing = [&] {
        int n = 0;
        for (const auto& [_, c] : expected) n += c == 0 ? 1 : 0;
        return n;
      };
      auto idle_since = Clock::now();
      while (Clock::now() < deadline) {
        auto record = (*consumer)->Poll(std::chrono::milliseconds(500));
        Pump(std::chrono::milliseconds(0));
        if (!record.ok() || !record->has_value()) {
          // Everything arrived and nothing more came for a while (late redeliveries counted).
          if (missing() == 0 && Clock::now() - idle_since > std::chrono::seconds(3)) break;
          continue;
        }
        idle_since = Clock::now();
        json event = json::parse((*record)->payload, nullptr, false);
        if (event.is_discarded() || event.value("job_id", "") != f.job_id) continue;
        const auto type = event.value("type", "");
        const auto key = event.value("video_id", f.job_id);
        const auto event_id = event.value("event_id", "");
        if (++seen_ids[event_id] > 1) ++f.kafka_redelivered;
        ids_by_fact[{type, key}].insert(event_id);
        if (auto it = expected.find({type, key}); it != expected.end()) ++it->second;
      }
      f.kafka_missing = missing();
      if (f.kafka_missing > 0) {
        std::string some;
        for (const auto& [k, c] : expected) {
          if (c == 0 && some.size() < 300) some += " " + k.first + "/" + k.second;
        }
        problem(std::to_string(f.kafka_missing) + " events missing on Kafka:" + some);
      }
    }
  }
  for (const auto& [fact, ids] : ids_by_fact) {
    if (ids.size() > 1) {
      f.double_emitted += static_cast<int>(ids.size() - 1);
      problem(fact.first + " for " + fact.second + " emitted " + std::to_string(ids.size()) +
              " times");
    }
  }

  // 5. Audit log (RabbitMQ fanout -> event_logger): every Kafka event of the job.
  if (services_.ports.count("event_logger") > 0) {
    std::set<std::string> audit_ids;
    testing::WaitFor(
        [&] {
          Pump(std::chrono::milliseconds(0));
          audit_ids.clear();
          std::ifstream in(services_.AuditLogDir() / "events.jsonl");
          for (std::string line; std::getline(in, line);) {
            auto e = json::parse(line, nullptr, false);
            if (!e.is_discarded() && e.value("job_id", "") == f.job_id) {
              audit_ids.insert(e.value("event_id", ""));
            }
          }
          for (const auto& [id, _] : seen_ids) {
            if (audit_ids.count(id) == 0) return false;
          }
          return true;
        },
        std::max(std::chrono::milliseconds(1000),
                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())));
    for (const auto& [id, _] : seen_ids) f.audit_missing += audit_ids.count(id) == 0 ? 1 : 0;
    if (f.audit_missing > 0)
      problem(std::to_string(f.audit_missing) + " events not in the audit log");
  }

  // 6. Analytics agrees with PostgreSQL exactly.
  if (services_.ports.count("analytics") > 0) {
    json figures;
    const int distinct_events = static_cast<int>(ids_by_fact.size());
    f.analytics_exact = testing::WaitFor(
        [&] {
          Pump(std::chrono::milliseconds(0));
          auto client = services_.Client("analytics");
          client.set_read_timeout(5);
          auto r = client.Get("/jobs/" + f.job_id + "/analytics");
          if (!r || r->status != 200) return false;
          figures = json::parse(r->body, nullptr, false);
          if (figures.is_discarded() || figures.value("job", json()).is_null()) return false;
          return figures.at("videos").value("discovered", -1) == f.videos &&
                 figures.at("videos").value("done", -1) == f.done &&
                 figures.at("videos").value("failed", -1) == f.failed &&
                 figures.at("failures").value("total", -1) == f.failed &&
                 figures.value("events_total", -1) == distinct_events;
        },
        std::max(std::chrono::milliseconds(1000),
                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())));
    if (!f.analytics_exact) {
      problem("analytics differs from PostgreSQL (done " + std::to_string(f.done) + ", failed " +
              std::to_string(f.failed) + ", events " + std::to_string(distinct_events) +
              "): " + figures.dump());
    }
  }

  // 7. Work done twice: handler runs per video and stage (chaos_run.hpp, RunFigures).
  {
    const auto runs = HandlerRuns(f.job_id);
    int reported = 0;
    auto report = [&](const std::string& p) {
      if (++reported <= 10) problem(p);
    };
    for (auto stage : protocol::kAllStages) f.handler_runs[std::string(protocol::StageName(stage))];
    for (const auto& [key, count] : runs) {
      const auto& [stage, item] = key;
      const auto [started, ok] = count;
      auto& s = f.handler_runs[stage];
      s.runs += started;
      s.items += 1;
      s.max_runs = std::max(s.max_runs, started);
      s.extra_runs += std::max(0, started - 1);
      if (started > 1) ++s.run_twice;
      if (ok > 1) ++s.ok_twice;
      if (f.rerun_allowed.count(stage) > 0) continue;
      std::string line = stage;
      if (ok > 1) {
        line += " handler finished ";
        line += item;
        line += " " + std::to_string(ok) + " times (work done twice)";
        report(line);
      } else if (started > 1 && f.retry_allowed.count(stage) == 0) {
        line += " handler ran " + std::to_string(started) + " times for ";
        line += item;
        report(line);
      }
    }
    // Every done video ran each stage it did not skip (the count is complete; a video done
    // without a run of its stage would mean the runs are not all seen).
    for (const auto& [id, row] : rows) {
      if (row.state != "done") continue;
      for (auto stage : protocol::kAllStages) {
        const std::string s(protocol::StageName(stage));
        if (stage == protocol::Stage::kDiscovery ||
            row.skipped_stages.find("," + s + ",") != std::string::npos) {
          continue;
        }
        const auto it = runs.find({s, id});
        if (it == runs.end() || it->second.second == 0) {
          std::string line = "no finished " + s;
          line += " handler run logged for done video ";
          line += id;
          report(line);
        }
      }
    }
    if (rows.size() > 0 && runs.count({"discovery", f.job_id}) == 0) {
      report("no discovery handler run logged for job " + f.job_id);
    }
    if (reported > 10)
      problem("... " + std::to_string(reported - 10) + " more handler-run problems");
  }

  const auto now = Clock::now();
  f.recover_s = Seconds(now - std::max(last_fault_end, submitted));
  f.total_s = Seconds(now - submitted);
  f.crashes = crashes_ - crashes_before;
  if (f.crashes > 0) problem(std::to_string(f.crashes) + " service(s) exited by themselves");
}

void WriteReport(const std::vector<RunFigures>& runs, const std::string& file) {
  const char* dir_env = std::getenv("CHAOS_REPORT_DIR");
  const std::filesystem::path dir = dir_env != nullptr && *dir_env != '\0'
                                        ? std::filesystem::path(dir_env)
                                        : std::filesystem::path(CHANSUM_BIN_DIR) / ".." / "chaos";
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / (file + ".json"), std::ios::trunc);
    json all = json::array();
    for (const auto& r : runs) all.push_back(r.ToJson());
    out << all.dump(2) << "\n";
  }
  std::ofstream md(dir / (file + ".md"), std::ios::trunc);
  md << "| scenario | faults | videos | done | failed | lost | stuck | duplicate docs | "
        "Kafka missing | Kafka redelivered | absorbed | analytics exact | crashes | "
        "recover s | total s |\n";
  md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n";
  for (const auto& r : runs) {
    std::ostringstream row;
    row.precision(1);
    row << std::fixed << "| " << r.scenario << " | " << r.faults << " | " << r.videos << " | "
        << r.done << " | " << r.failed << " | " << r.lost << " | " << r.stuck << " | "
        << r.duplicate_documents << " | " << r.kafka_missing << " | " << r.kafka_redelivered
        << " | " << r.absorbed << " | " << (r.analytics_exact ? "yes" : "NO") << " | " << r.crashes
        << " | " << r.recover_s << " | " << r.total_s << " |\n";
    md << row.str();
  }
  // Work done twice, per stage: videos run more than once / most runs of one video / videos
  // whose handler finished ok more than once. Scenarios whose faults may redo a stage's work are
  // marked "(reported)"; the others are held to one run per video (RunFigures).
  md << "\nHandler runs per stage: videos run more than once / max runs of one video / videos "
        "finished more than once (* = redo allowed by the fault, reported only; + = retries "
        "after failed runs allowed)\n\n| scenario |";
  for (auto stage : protocol::kAllStages) md << " " << protocol::StageName(stage) << " |";
  md << "\n|---|";
  for (std::size_t i = 0; i < std::size(protocol::kAllStages); ++i) md << "---:|";
  md << "\n";
  for (const auto& r : runs) {
    md << "| " << r.scenario << " |";
    for (auto stage : protocol::kAllStages) {
      const std::string name(protocol::StageName(stage));
      const auto it = r.handler_runs.find(name);
      const StageRuns s = it == r.handler_runs.end() ? StageRuns{} : it->second;
      md << " " << s.run_twice << " / " << s.max_runs << " / " << s.ok_twice
         << (r.rerun_allowed.count(name) > 0   ? " *"
             : r.retry_allowed.count(name) > 0 ? " +"
                                               : "")
         << " |";
    }
    md << "\n";
  }
  std::cerr << "[chaos] report written to " << (dir / (file + ".md")).string() << "\n";
}

}  // namespace chansum::chaos
