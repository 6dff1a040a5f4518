#include "session.hpp"

#include <cctype>
#include <chrono>
#include <ostream>

namespace chansum::cli {
namespace {

std::string EnvOr(const Environment& env, const char* key, const std::string& dflt) {
  auto it = env.find(key);
  return it != env.end() && !it->second.empty() ? it->second : dflt;
}

}  // namespace

std::string DefaultApiUrl(const Environment& env) {
  return "http://127.0.0.1:" + EnvOr(env, "CHANSUM_API_PORT", "28080");
}

Session::Session(const Options& o, const Environment& env, std::ostream& out_stream,
                 std::ostream& err_stream, bool is_interactive)
    : opts(o),
      out(out_stream),
      err(err_stream),
      interactive(is_interactive && o.flags.count("plain") == 0),
      client(Flag("api", EnvOr(env, "CHANSUM_API", DefaultApiUrl(env))),
             Flag("token", EnvOr(env, "CHANSUM_TOKEN", ""))) {}

std::string Session::Flag(const std::string& name, const std::string& dflt) const {
  auto it = opts.flags.find(name);
  return it != opts.flags.end() ? it->second : dflt;
}

int Session::Fail(int code, const std::string& message) {
  err << "chansum: " << message << "\n";
  return code;
}

int Session::FailResponse(const Result<HttpResponse>& r) {
  if (!r.ok()) return Fail(kExitUnavailable, r.error().message);
  const int code = r->status >= 500 ? kExitUnavailable : kExitApiError;
  return Fail(code, ApiErrorMessage(*r) + " (HTTP " + std::to_string(r->status) + ")");
}

std::optional<nlohmann::json> Session::Call(const std::string& method, const std::string& path,
                                            const std::string& body, int ok_status,
                                            int* exit_code) {
  auto r = method == "GET" ? client.Get(path) : client.Post(path, body);
  if (!r.ok() || r->status != ok_status) {
    *exit_code = FailResponse(r);
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    *exit_code = Fail(kExitUnavailable, "the API answered " + path + " with invalid JSON");
    return std::nullopt;
  }
  return j;
}

std::string Segment(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace chansum::cli
