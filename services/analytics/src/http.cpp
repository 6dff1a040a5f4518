#include "http.hpp"

#include <cctype>

#include <spdlog/spdlog.h>

#include "chansum/common/strings.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/pg/transaction.hpp"
#include "chansum/protocol/events.hpp"
#include "event.hpp"
#include "store.hpp"

namespace chansum::analytics {
namespace {

using http::SendError;
using http::SendFailure;
using http::SendJson;
using nlohmann::json;

bool SchemaReady(const ApiDeps& deps, httplib::Response& res) {
  if (deps.schema_ready && !deps.schema_ready()) {
    res.set_header("Retry-After", "2");
    SendError(res, 503, "unavailable", "the analytics schema is not ready yet, try again shortly");
    return false;
  }
  return true;
}

}  // namespace

void RegisterRoutes(http::Server& server, const ApiDeps& deps) {
  http::ConfigureJsonServer(server, deps.server);
  http::AddHealthRoutes(server, deps.readiness);
  server.Get("/analytics", [deps](const httplib::Request&, httplib::Response& res) {
    if (!SchemaReady(deps, res)) return;
    auto body = pg::WithTransaction(*deps.pool, [](pqxx::work& txn) { return QueryOverall(txn); });
    if (!body.ok()) return SendFailure(res, body.error());
    SendJson(res, 200, *body);
  });
  server.Get(R"(/subscriptions/([^/]+)/analytics)",
             [deps](const httplib::Request& req, httplib::Response& res) {
               std::string id = req.matches[1];
               if (!protocol::IsUuid(id)) {
                 return SendError(res, 400, "invalid_subscription_id",
                                  "subscription id must be a UUID, got \"" + id + "\"");
               }
               if (!SchemaReady(deps, res)) return;
               id = AsciiLower(id);
               auto body = pg::WithTransaction(*deps.pool, [&](pqxx::work& txn) {
                 return json{{"scope", "subscription"},
                             {"subscription_id", id},
                             {"subscription_checks", SubscriptionChecks(txn, id)}};
               });
               if (!body.ok()) return SendFailure(res, body.error());
               SendJson(res, 200, *body);
             });
  server.Get(R"(/jobs/([^/]+)/analytics)", [deps](const httplib::Request& req,
                                                  httplib::Response& res) {
    const std::string id = req.matches[1];
    if (!protocol::IsUuid(id)) {
      return SendError(res, 400, "invalid_job_id", "job id must be a UUID, got \"" + id + "\"");
    }
    if (!SchemaReady(deps, res)) return;
    auto body = pg::WithTransaction(*deps.pool, [&](pqxx::work& txn) { return QueryJob(txn, id); });
    if (!body.ok()) return SendFailure(res, body.error());
    if (!*body) {
      return SendError(res, 404, "not_found", "no analytics events for job " + id);
    }
    SendJson(res, 200, **body);
  });
}

}  // namespace chansum::analytics
