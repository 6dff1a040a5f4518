#include "http.hpp"

#include <spdlog/spdlog.h>

#include "chansum/pg/transaction.hpp"
#include "event.hpp"
#include "store.hpp"

namespace chansum::analytics {
namespace {

using nlohmann::json;

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& code,
               const std::string& message) {
  res.status = status;
  res.set_content(ErrorBody(code, message), "application/json");
}

void SendFailure(httplib::Response& res, const Error& error) {
  if (error.transient()) {
    res.set_header("Retry-After", "2");
    SendError(res, 503, "unavailable", "the database is unavailable, try again shortly");
  } else {
    SendError(res, 500, "internal", "internal error");
  }
  spdlog::error("request failed: {}", error.ToString());
}

bool SchemaReady(const ApiDeps& deps, httplib::Response& res) {
  if (deps.schema_ready && !deps.schema_ready()) {
    res.set_header("Retry-After", "2");
    SendError(res, 503, "unavailable", "the analytics schema is not ready yet, try again shortly");
    return false;
  }
  return true;
}

const char* DefaultCode(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    default:
      return status >= 500 ? "internal" : "error";
  }
}

}  // namespace

std::string ErrorBody(const std::string& code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

void RegisterRoutes(httplib::Server& server, const ApiDeps& deps) {
  server.set_tcp_nodelay(true);
  server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                   httplib::Response& res) {
    if (res.status >= 400 && res.body.empty()) {
      const std::string message =
          res.status == 404 ? "no such resource: " + req.method + " " + req.path : "request failed";
      res.set_content(ErrorBody(DefaultCode(res.status), message), "application/json");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("unhandled exception in {} {}: {}", req.method, req.path, what);
        SendError(res, 500, "internal", "internal error");
      });
  server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("{} {} -> {}", req.method, req.path, res.status);
  });

  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, json{{"status", "ok"}});
  });
  server.Get("/readyz", [deps](const httplib::Request&, httplib::Response& res) {
    json r = deps.readiness ? deps.readiness() : json{{"ready", true}};
    SendJson(res, r.value("ready", false) ? 200 : 503, r);
  });
  server.Get("/analytics", [deps](const httplib::Request&, httplib::Response& res) {
    if (!SchemaReady(deps, res)) return;
    auto body = pg::WithTransaction(*deps.pool, [](pqxx::work& txn) { return QueryOverall(txn); });
    if (!body.ok()) return SendFailure(res, body.error());
    SendJson(res, 200, *body);
  });
  server.Get(R"(/jobs/([^/]+)/analytics)", [deps](const httplib::Request& req,
                                                  httplib::Response& res) {
    const std::string id = req.matches[1];
    if (!IsUuid(id)) {
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
