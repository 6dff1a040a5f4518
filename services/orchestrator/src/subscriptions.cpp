#include "subscriptions.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

#include <spdlog/spdlog.h>

#include "chansum/common/ids.hpp"
#include "chansum/docstore/docstore.hpp"
#include "chansum/http/json_api.hpp"
#include "chansum/media/feed.hpp"
#include "chansum/pipeline/pipeline.hpp"
#include "chansum/protocol/command.hpp"
#include "chansum/protocol/documents.hpp"
#include "chansum/store/job_view.hpp"
#include "chansum/store/reliability.hpp"
#include "chansum/store/store.hpp"
#include "chansum/store/subscriptions.hpp"

namespace chansum::orchestrator {
namespace {

using nlohmann::json;

Error Bad(const std::string& code, const std::string& message) {
  return Error::Permanent(code, message);
}

Result<int> EveryField(const json& value, int min_every_s) {
  if (!value.is_string()) return Bad("invalid_type", "field \"every\" must be a string");
  auto every = ParseEvery(value.get<std::string>());
  if (!every || *every < min_every_s || *every > kMaxEverySeconds) {
    return Bad("invalid_value",
               "field \"every\" must be an interval such as \"6h\", \"30m\" or "
               "\"1d\", from " +
                   std::to_string(min_every_s) + " s to 30 days");
  }
  return *every;
}

Result<std::string> SinceField(const json& value, const std::string& now) {
  if (!value.is_string()) return Bad("invalid_type", "field \"since\" must be a string");
  auto since = NormalizeSince(value.get<std::string>(), now);
  if (!since) {
    return Bad("invalid_value",
               "field \"since\" must be \"now\", a date (2024-03-01) or a UTC time "
               "(2024-03-01T10:00:00Z)");
  }
  return *since;
}

Result<std::optional<int>> KeepDaysField(const json& value) {
  if (value.is_null()) return std::optional<int>();
  if (!value.is_number_integer()) {
    return Bad("invalid_type", "field \"keep_days\" must be an integer or null");
  }
  const bool in_range =
      value.is_number_unsigned()
          ? value.get<unsigned long long>() >= 1 && value.get<unsigned long long>() <= kMaxKeepDays
          : value.get<long long>() >= 1 && value.get<long long>() <= kMaxKeepDays;
  if (!in_range) {
    return Bad("invalid_value",
               "field \"keep_days\" must be between 1 and " + std::to_string(kMaxKeepDays));
  }
  return std::optional<int>(value.get<int>());
}

Result<json> ParseObject(const std::string& body) {
  if (body.size() > kMaxBodyBytes) {
    return Bad("payload_too_large", "request body is larger than 64 KiB");
  }
  auto j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad("invalid_json", "request body is not valid JSON");
  if (!j.is_object()) return Bad("invalid_request", "request body must be a JSON object");
  return j;
}

std::string NowSeconds() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int StatusFor(const Error& e) { return e.code == "payload_too_large" ? 413 : 400; }

bool ValidId(std::string& id, httplib::Response& res) {
  if (!IsUuid(id)) {
    SendError(res, 400, "invalid_subscription_id", "subscription id must be a UUID");
    return false;
  }
  std::transform(id.begin(), id.end(), id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return true;
}

}  // namespace

std::optional<int> ParseEvery(const std::string& text) {
  if (text.empty() || text.size() > 32) return std::nullopt;
  long long total = 0;
  std::size_t i = 0;
  std::string last_unit;
  const std::string order = "dhms";
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start || i - start > 9 || i >= text.size()) return std::nullopt;
    const long long n = std::stoll(text.substr(start, i - start));
    const char unit = text[i++];
    const auto pos = order.find(unit);
    // Units in decreasing order, each at most once ("1h30m", not "30m1h" or "1h1h").
    if (pos == std::string::npos) return std::nullopt;
    if (!last_unit.empty() && pos <= order.find(last_unit[0])) return std::nullopt;
    last_unit = std::string(1, unit);
    const long long scale[] = {86400, 3600, 60, 1};
    total += n * scale[pos];
    if (total > kMaxEverySeconds * 10LL) return std::nullopt;
  }
  if (total <= 0) return std::nullopt;
  return static_cast<int>(total);
}

std::optional<std::string> NormalizeSince(const std::string& text, const std::string& now) {
  if (text == "now") return now;
  return NormalizePublishedAfter(text);
}

Result<SubscriptionRequest> ParseSubscriptionRequest(const std::string& body, int min_every_s,
                                                     const std::string& now) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.error();
  json job_body = json::object();
  SubscriptionRequest req;
  req.since = now;
  for (const auto& [key, value] : j->items()) {
    if (key == "channel" || key == "max_videos" || key == "max_duration_s" ||
        key == "caption_languages") {
      job_body[key] = value;
    } else if (key == "every") {
      auto every = EveryField(value, min_every_s);
      if (!every.ok()) return every.error();
      req.every_s = *every;
    } else if (key == "since") {
      auto since = SinceField(value, now);
      if (!since.ok()) return since.error();
      req.since = *since;
    } else if (key == "keep_days") {
      auto keep = KeepDaysField(value);
      if (!keep.ok()) return keep.error();
      req.keep_days = *keep;
    } else if (key == "paused") {
      if (!value.is_boolean()) return Bad("invalid_type", "field \"paused\" must be a boolean");
      req.paused = value.get<bool>();
    } else {
      return Bad("unknown_field", "unknown field \"" + key +
                                      "\" (allowed: channel, every, since, max_videos, "
                                      "max_duration_s, caption_languages, keep_days, paused)");
    }
  }
  // The channel and the filters are validated exactly as POST /jobs validates them.
  auto job = ParseJobRequest(job_body.dump());
  if (!job.ok()) return job.error();
  req.job = std::move(*job);
  req.job.published_after = req.since;
  return req;
}

Result<SubscriptionChange> ParseSubscriptionPatch(const std::string& body, int min_every_s,
                                                  const std::string& now) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.error();
  SubscriptionChange change;
  json filters = {{"channel", "@probe"}};
  for (const auto& [key, value] : j->items()) {
    if (key == "max_videos" || key == "max_duration_s" || key == "caption_languages") {
      if (key != "max_videos" && value.is_null()) {  // back to no limit / the stages' default
        change.options_patch[key] = nullptr;
        continue;
      }
      filters[key] = value;
      change.options_patch[key] = value;
    } else if (key == "every") {
      auto every = EveryField(value, min_every_s);
      if (!every.ok()) return every.error();
      change.every_s = *every;
    } else if (key == "since") {
      auto since = SinceField(value, now);
      if (!since.ok()) return since.error();
      change.options_patch["published_after"] = *since;
    } else if (key == "keep_days") {
      auto keep = KeepDaysField(value);
      if (!keep.ok()) return keep.error();
      change.options_patch["keep_days"] = *keep ? json(**keep) : json(nullptr);
    } else if (key == "paused") {
      if (!value.is_boolean()) return Bad("invalid_type", "field \"paused\" must be a boolean");
      change.paused = value.get<bool>();
    } else {
      return Bad("unknown_field", "unknown field \"" + key +
                                      "\" (allowed: every, paused, since, max_videos, "
                                      "max_duration_s, caption_languages, keep_days)");
    }
  }
  auto probe = ParseJobRequest(filters.dump());  // the filters' rules of POST /jobs
  if (!probe.ok()) return probe.error();
  if (change.options_patch.contains("max_videos")) {
    change.options_patch["max_videos"] = probe->max_videos;
  }
  if (change.options_patch.contains("max_duration_s") && probe->max_duration_s) {
    change.options_patch["max_duration_s"] = *probe->max_duration_s;
  }
  if (!probe->caption_languages.empty()) {
    change.options_patch["caption_languages"] = probe->caption_languages;
  }
  return change;
}

json MergeOptions(json options, const json& patch) {
  if (!options.is_object()) options = json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      options.erase(key);
    } else {
      options[key] = value;
    }
  }
  return options;
}

json SubscriptionOptions(const SubscriptionRequest& req) {
  json options = {{"max_videos", req.job.max_videos}, {"published_after", req.since}};
  if (req.job.max_duration_s) options["max_duration_s"] = *req.job.max_duration_s;
  if (!req.job.caption_languages.empty()) {
    options["caption_languages"] = req.job.caption_languages;
  }
  if (req.keep_days) options["keep_days"] = *req.keep_days;
  return options;
}

json FeedCheckData(const store::DueSubscription& due, const FeedPrecheck& feed) {
  if (!feed.enabled) return nullptr;
  std::string channel_id = due.channel_id;
  if (channel_id.empty()) {
    channel_id =
        media::ChannelIdFromUrl(due.channel_url, media::UrlHost(feed.url_template)).value_or("");
  }
  json data = {{"url", nullptr}, {"seen", nullptr}};
  if (channel_id.empty()) {
    data["note"] =
        "no feed: the channel URL names no channel id (a handle's is learnt from the first full "
        "listing)";
    return data;
  }
  data["url"] = media::FeedUrlFor(feed.url_template, channel_id);
  if (due.feed_video_ids) data["seen"] = *due.feed_video_ids;
  return data;
}

Result<int> CheckDueSubscriptions(const TxnRunner& txn, const std::string& queue_prefix,
                                  const std::string& worker, int limit, const FeedPrecheck& feed) {
  int started = 0;
  auto st = txn([&](pqxx::work& t) {
    started = 0;
    pipeline::Effects effects(queue_prefix);  // inside: a retried transaction starts afresh
    for (const auto& due : store::ClaimDueSubscriptions(t, limit, queue_prefix)) {
      store::NewJob job;
      job.id = NewUuid();
      job.channel = due.channel;
      job.channel_url = due.channel_url;
      job.options = {{"subscription_id", due.id}};
      for (const char* key :
           {"max_videos", "published_after", "max_duration_s", "caption_languages"}) {
        if (due.options.contains(key)) job.options[key] = due.options[key];
      }
      if (auto f = FeedCheckData(due, feed); !f.is_null()) job.options["feed"] = std::move(f);
      // A channel id the URL names is shown with the subscription from its first check on.
      if (feed.enabled && due.channel_id.empty()) {
        if (auto named =
                media::ChannelIdFromUrl(due.channel_url, media::UrlHost(feed.url_template))) {
          store::RememberChannelId(t, due.id, *named);
        }
      }
      job.trace_id = NewUuid();
      store::InsertJob(t, job);
      store::StartSubscriptionCheck(t, due, NewUuid(), job.id, worker);
      effects.Command(
          protocol::NewCommand(protocol::Stage::kDiscovery, job.id, "", job.trace_id,
                               store::DiscoveryCommandData(job.channel_url, job.options)));
      ++started;
    }
    effects.Flush(t);
  });
  if (!st.ok()) return st.error();
  return started;
}

namespace {

// The answer of a route that read subscription `id`'s view in a transaction: 503/500 when the
// transaction failed, 404 when there is no such subscription, else 200 with the view.
void SendView(httplib::Response& res, const Status& st,
              const std::optional<nlohmann::ordered_json>& view, const std::string& id) {
  if (!st.ok()) {
    SendFailure(res, st.error());
  } else if (!view) {
    SendError(res, 404, "subscription_not_found", "no subscription with id " + id);
  } else {
    SendJson(res, 200, *view);
  }
}

// Aborts the retention transaction when the document store fails (pg::WithTransaction lets
// anything but a pqxx failure through, and the transaction rolls back).
struct DocstoreFailure {
  Error error;
};
}  // namespace

Result<int> ExpireSubscriptionDocuments(const TxnRunner& txn, docstore::DocStore& docs, int limit) {
  int expired = 0;
  try {
    auto st = txn([&](pqxx::work& t) {
      expired = 0;
      for (const auto& id : store::ClaimExpiredVideoDocuments(t, limit)) {
        for (const char* collection :
             {protocol::kTranscriptsCollection, protocol::kSummariesCollection}) {
          auto deleted = docs.Delete(collection, id);
          if (!deleted.ok()) throw DocstoreFailure{deleted.error()};
        }
        ++expired;
      }
    });
    if (!st.ok()) return st.error();
  } catch (const DocstoreFailure& f) {
    return f.error;
  }
  return expired;
}

void RegisterSubscriptionRoutes(httplib::Server& server, const ApiDeps& deps) {
  server.Post("/subscriptions", [deps](const httplib::Request& req, httplib::Response& res) {
    auto parsed = ParseSubscriptionRequest(req.body, deps.subscription_min_every_s, NowSeconds());
    if (!parsed.ok()) {
      SendError(res, StatusFor(parsed.error()), parsed.error().code, parsed.error().message);
      return;
    }
    if (RefuseDestination(deps, parsed->job, res)) return;
    store::NewSubscription sub;
    sub.id = NewUuid();
    sub.channel = parsed->job.channel;
    sub.channel_url = parsed->job.channel_url;
    sub.every_s = parsed->every_s;
    sub.options = SubscriptionOptions(*parsed);
    sub.queue_prefix = deps.queue_prefix;
    std::string existing;
    std::optional<nlohmann::ordered_json> view;
    auto st = deps.txn([&](pqxx::work& txn) {
      existing = store::InsertSubscription(txn, sub);
      if (existing.empty()) {
        if (parsed->paused) {
          (void)store::UpdateSubscription(txn, sub.id, store::SubscriptionPatch{{}, true, {}});
        }
        view = store::GetSubscription(txn, sub.id, 0);
      }
    });
    if (!st.ok()) {
      SendFailure(res, st.error());
      return;
    }
    if (!existing.empty()) {
      res.set_header("Location", "/subscriptions/" + existing);
      SendError(res, 409, "subscription_exists",
                "this channel already has subscription " + existing);
      return;
    }
    spdlog::info("subscription {} created for {} (every {} s)", sub.id, sub.channel_url,
                 sub.every_s);
    res.set_header("Location", "/subscriptions/" + sub.id);
    nlohmann::ordered_json body = *view;
    body["subscription_id"] = sub.id;
    SendJson(res, 201, body);
  });

  server.Get("/subscriptions", [deps](const httplib::Request& req, httplib::Response& res) {
    const auto limit = ListLimitParam(req, res, kMaxListLimit);
    if (!limit) return;
    nlohmann::ordered_json list;
    auto st = deps.txn([&](pqxx::work& txn) { list = store::ListSubscriptions(txn, *limit); });
    if (!st.ok()) {
      SendFailure(res, st.error());
      return;
    }
    SendJson(res, 200, nlohmann::ordered_json{{"subscriptions", std::move(list)}});
  });

  server.Get(R"(/subscriptions/([^/]+))",
             [deps](const httplib::Request& req, httplib::Response& res) {
               std::string id = req.matches[1];
               if (!ValidId(id, res)) return;
               std::optional<nlohmann::ordered_json> view;
               auto st = deps.txn([&](pqxx::work& txn) {
                 store::UseOneSnapshot(txn);
                 view = store::GetSubscription(txn, id);
               });
               SendView(res, st, view, id);
             });

  server.Patch(
      R"(/subscriptions/([^/]+))", [deps](const httplib::Request& req, httplib::Response& res) {
        std::string id = req.matches[1];
        if (!ValidId(id, res)) return;
        auto change = ParseSubscriptionPatch(req.body, deps.subscription_min_every_s, NowSeconds());
        if (!change.ok()) {
          SendError(res, StatusFor(change.error()), change.error().code, change.error().message);
          return;
        }
        std::optional<nlohmann::ordered_json> view;
        auto st = deps.txn([&](pqxx::work& txn) {
          view.reset();
          auto options = store::LockSubscriptionOptions(txn, id);
          if (!options) return;
          store::SubscriptionPatch patch;
          patch.every_s = change->every_s;
          patch.paused = change->paused;
          if (!change->options_patch.empty()) {
            patch.options = MergeOptions(*options, change->options_patch);
          }
          (void)store::UpdateSubscription(txn, id, patch);
          view = store::GetSubscription(txn, id);
        });
        SendView(res, st, view, id);
      });

  server.Delete(
      R"(/subscriptions/([^/]+))", [deps](const httplib::Request& req, httplib::Response& res) {
        std::string id = req.matches[1];
        if (!ValidId(id, res)) return;
        bool deleted = false;
        auto st = deps.txn([&](pqxx::work& txn) { deleted = store::DeleteSubscription(txn, id); });
        if (!st.ok()) {
          SendFailure(res, st.error());
          return;
        }
        if (!deleted) {
          SendError(res, 404, "subscription_not_found", "no subscription with id " + id);
          return;
        }
        res.status = 204;
      });
}

}  // namespace chansum::orchestrator
