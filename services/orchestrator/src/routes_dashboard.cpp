#include "routes_dashboard.hpp"

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>

#include "chansum/http/json_api.hpp"
#include "web_assets.hpp"

namespace chansum::orchestrator {
namespace {

// Index and assets are not fingerprinted: browsers revalidate on every load (no-cache) and get a
// 304 while the ETag matches, so a new orchestrator build is picked up at once.
constexpr const char* kCacheControl = "no-cache";
// Everything the page needs comes from this server; no inline scripts or styles.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Served {
  std::string_view body;
  std::string content_type;
  std::string etag;
};

std::string Etag(std::string_view body) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[24];
  std::snprintf(buf, sizeof(buf), "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

bool EtagMatches(const httplib::Request& req, const std::string& etag) {
  if (!req.has_header("If-None-Match")) return false;
  const auto value = req.get_header_value("If-None-Match");
  return value == "*" || value.find(etag) != std::string::npos;
}

void Serve(const Served& file, const httplib::Request& req, httplib::Response& res) {
  res.set_header("Cache-Control", kCacheControl);
  res.set_header("ETag", file.etag);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  if (file.content_type.rfind("text/html", 0) == 0) {
    res.set_header("Content-Security-Policy", kContentSecurityPolicy);
    res.set_header("X-Frame-Options", "DENY");
  }
  if (EtagMatches(req, file.etag)) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.set_content(file.body.data(), file.body.size(), file.content_type.c_str());
}

}  // namespace

std::string_view ContentTypeFor(std::string_view path) {
  static const std::map<std::string_view, std::string_view> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  };
  const auto dot = path.rfind('.');
  if (dot != std::string_view::npos) {
    auto it = kTypes.find(path.substr(dot));
    if (it != kTypes.end()) return it->second;
  }
  return "application/octet-stream";
}

void RegisterDashboardRoutes(httplib::Server& server, const ApiDeps& /*deps*/) {
  auto files = std::make_shared<std::map<std::string, Served, std::less<>>>();
  for (const auto& asset : web::Assets()) {
    (*files)[std::string(asset.path)] =
        Served{asset.body, std::string(ContentTypeFor(asset.path)), Etag(asset.body)};
  }
  server.Get("/", [files](const httplib::Request& req, httplib::Response& res) {
    auto it = files->find("index.html");
    if (it == files->end()) {
      http::SendError(res, 404, "not_found", "the dashboard is not built into this binary");
      return;
    }
    Serve(it->second, req, res);
  });
  server.Get(R"(/ui/([A-Za-z0-9_-][A-Za-z0-9_.-]*))",
             [files](const httplib::Request& req, httplib::Response& res) {
               auto it = files->find(std::string(req.matches[1]));
               if (it == files->end()) {
                 http::SendError(res, 404, "not_found", "no dashboard file " + req.path);
                 return;
               }
               Serve(it->second, req, res);
             });
}

}  // namespace chansum::orchestrator
