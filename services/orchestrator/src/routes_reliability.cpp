// Dead letters and replay: GET /dead-letters, POST /jobs/{id}/retry (proto/openapi.yaml).
#include <regex>

#include <spdlog/spdlog.h>

#include "api.hpp"
#include "chansum/common/logging.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/store/reliability.hpp"
#include "reliability.hpp"

namespace chansum::orchestrator {
namespace {

const std::regex kJobUuid(
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");

// A positive integer query parameter in [1, max]; nullopt (after answering 400) when invalid.
std::optional<long long> IntParam(const httplib::Request& req, httplib::Response& res,
                                  const char* name, long long fallback, long long max) {
  if (!req.has_param(name)) return fallback;
  const auto v = req.get_param_value(name);
  try {
    std::size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used != v.size() || n < 1 || n > max) throw std::out_of_range(name);
    return n;
  } catch (const std::exception&) {
    SendError(res, 400, "invalid_parameter",
              std::string(name) + " must be an integer from 1 to " + std::to_string(max));
    return std::nullopt;
  }
}

}  // namespace

void RegisterReliabilityRoutes(httplib::Server& server, const ApiDeps& deps) {
  server.Get("/dead-letters", [deps](const httplib::Request& req, httplib::Response& res) {
    std::string job_id;
    if (req.has_param("job_id")) {
      job_id = req.get_param_value("job_id");
      if (!std::regex_match(job_id, kJobUuid)) {
        SendError(res, 400, "invalid_parameter", "job_id must be a UUID");
        return;
      }
    }
    auto limit = IntParam(req, res, "limit", 100, 500);
    if (!limit) return;
    long long before = 0;
    if (req.has_param("before")) {
      auto b = IntParam(req, res, "before", 0, 9'000'000'000'000'000'000LL);
      if (!b) return;
      before = *b;
    }
    nlohmann::ordered_json list;
    auto st = deps.txn([&](pqxx::work& txn) {
      list = store::ListDeadLetters(txn, job_id, static_cast<int>(*limit), before);
    });
    if (!st.ok()) {
      SendFailure(res, st.error());
      return;
    }
    nlohmann::ordered_json body;
    const bool more = static_cast<long long>(list.size()) == *limit && !list.empty();
    body["next_before"] =
        more ? nlohmann::ordered_json(list.back()["id"]) : nlohmann::ordered_json(nullptr);
    body["dead_letters"] = std::move(list);
    SendJson(res, 200, body);
  });

  server.Post(
      R"(/jobs/([^/]+)/retry)", [deps](const httplib::Request& req, httplib::Response& res) {
        const std::string id = req.matches[1];
        if (!std::regex_match(id, kJobUuid)) {
          SendError(res, 400, "invalid_job_id", "job id must be a UUID");
          return;
        }
        ScopedLogContext ctx(std::map<std::string, std::string>{{"job_id", id}});
        RetryOutcome outcome;
        auto st = deps.txn([&](pqxx::work& txn) {
          outcome = RetryJob(txn, deps.queue_prefix, id);  // a conflict writes nothing
        });
        if (!st.ok()) {
          SendFailure(res, st.error());
          return;
        }
        if (!outcome.found) {
          SendError(res, 404, "job_not_found", "no job with id " + id);
          return;
        }
        if (!outcome.conflict.empty()) {
          SendError(res, 409, outcome.state == "cancelled" ? "job_cancelled" : "nothing_to_retry",
                    outcome.conflict);
          return;
        }
        spdlog::info("job retry: {} requeued (job was {})", outcome.requeued, outcome.state);
        SendJson(res, 202, nlohmann::json{{"job_id", id}, {"requeued", outcome.requeued}});
      });
}

}  // namespace chansum::orchestrator
