// subscribe, subscriptions, unsubscribe (issue 15).
#include <cstdio>
#include <exception>
#include <ostream>

#include "commands.hpp"

namespace chansum::cli {

using nlohmann::json;

namespace {

std::string Str(const json& j, const char* key, const std::string& none = "-") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return none;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// --name N as a whole number; the API checks the range. False after printing a usage error.
bool WholeNumber(Session& s, const std::string& name, long* n, int* rc) {
  const std::string& v = s.opts.flags.at(name);
  std::size_t used = 0;
  try {
    *n = std::stol(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || used == 0) {
    *rc = s.Fail(kExitUsage, "--" + name + " must be a whole number, got \"" + v + "\"");
    return false;
  }
  return true;
}

void ShowOne(Session& s, const json& sub) {
  s.out << "subscription " << Str(sub, "id") << "\n";
  s.out << "  channel      " << Str(sub, "channel") << "\n";
  std::string keep = sub["keep_days"].is_number()
                         ? "keep " + std::to_string(sub["keep_days"].get<int>()) + " days"
                         : std::string("keep forever");
  s.out << "  every        " << Str(sub, "every") << " (since " << Str(sub, "since") << ", max "
        << Str(sub, "max_videos") << " videos, " << keep << ")\n";
  s.out << "  state        " << (sub.value("paused", false) ? "paused" : "active") << "\n";
  s.out << "  checks       " << Str(sub, "checks") << " (last " << Str(sub, "last_check_at")
        << ", next " << Str(sub, "next_check_at") << ")\n";
  const auto& err = sub["last_error"];
  s.out << "  last error   "
        << (err.is_object() ? Str(err, "error") + " (" + Str(err, "at") + ")" : std::string("-"))
        << "\n";
  const auto jobs = sub.value("jobs", json::array());
  s.out << "  jobs started " << jobs.size() << "\n";
  char buf[512];
  for (const auto& j : jobs) {
    std::snprintf(buf, sizeof(buf), "    %-36s  %-21s  %3d new  %s\n", Str(j, "job_id").c_str(),
                  Str(j, "state").c_str(), j.value("new_videos", 0), Str(j, "started_at").c_str());
    s.out << buf;
  }
  const auto checks = sub.value("recent_checks", json::array());
  if (!checks.empty()) s.out << "  recent checks\n";
  for (const auto& c : checks) {
    std::string what = Str(c, "state");
    if (c["new_videos"].is_number()) what += ", " + Str(c, "new_videos") + " new";
    if (c["error"].is_string()) what += ": " + c["error"].get<std::string>();
    std::snprintf(buf, sizeof(buf), "    %-24s  %s\n", Str(c, "started_at").c_str(), what.c_str());
    s.out << buf;
  }
}

}  // namespace

int Subscribe(Session& s) {
  json body = {{"channel", s.opts.args[0]}};
  int rc = kExitOk;
  if (s.Has("every")) body["every"] = s.opts.flags.at("every");
  if (s.Has("since")) body["since"] = s.opts.flags.at("since");
  for (const char* flag : {"max-videos", "keep-days"}) {
    if (!s.Has(flag)) continue;
    long n = 0;
    if (!WholeNumber(s, flag, &n, &rc)) return rc;
    body[std::string(flag) == "max-videos" ? "max_videos" : "keep_days"] = n;
  }
  auto j = s.Call("POST", "/subscriptions", body.dump(), 201, &rc);
  if (!j) return rc;
  s.out << j->value("subscription_id", "") << "\n";
  return kExitOk;
}

int Subscriptions(Session& s) {
  int rc = kExitOk;
  if (!s.opts.args.empty()) {
    auto j = s.Call("GET", "/subscriptions/" + Segment(s.opts.args[0]), "", 200, &rc);
    if (!j) return rc;
    if (s.Has("json")) {
      s.out << j->dump(2) << "\n";
    } else {
      ShowOne(s, *j);
    }
    return kExitOk;
  }
  auto j = s.Call("GET", "/subscriptions", "", 200, &rc);
  if (!j) return rc;
  if (s.Has("json")) {
    s.out << j->dump(2) << "\n";
    return kExitOk;
  }
  char buf[1024];
  std::snprintf(buf, sizeof(buf), "%-36s  %-7s  %-6s  %6s  %4s  %-14s  %-24s  %s\n", "SUBSCRIPTION",
                "EVERY", "STATE", "CHECKS", "JOBS", "LAST CHECK", "NEXT CHECK", "CHANNEL");
  s.out << buf;
  for (const auto& sub : j->value("subscriptions", json::array())) {
    std::snprintf(buf, sizeof(buf), "%-36s  %-7s  %-6s  %6d  %4d  %-14s  %-24s  %s\n",
                  Str(sub, "id").c_str(), Str(sub, "every").c_str(),
                  sub.value("paused", false) ? "paused" : "active", sub.value("checks", 0),
                  sub.value("jobs_started", 0), Str(sub, "last_check_state").c_str(),
                  Str(sub, "next_check_at").c_str(), Str(sub, "channel").c_str());
    s.out << buf;
  }
  return kExitOk;
}

int Unsubscribe(Session& s) {
  auto r = s.client.Delete("/subscriptions/" + Segment(s.opts.args[0]));
  if (!r.ok() || r->status != 204) return s.FailResponse(r);
  s.out << "subscription " << s.opts.args[0] << " deleted\n";
  return kExitOk;
}

}  // namespace chansum::cli
