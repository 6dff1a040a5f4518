#include "chansum/cli/progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace chansum::cli {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

int StageIndex(const std::string& stage) {
  for (int i = 0; i < 4; ++i) {
    if (stage == kStages[i]) return i;
  }
  return -1;
}

std::optional<double> FirstStart(const json& timings) {
  std::optional<double> first;
  if (!timings.is_object()) return first;
  for (const auto& [_, t] : timings.items()) {
    if (auto s = ParseTimestamp(Str(t, "started_at"))) {
      if (!first || *s < *first) first = s;
    }
  }
  return first;
}

std::string Pad(std::string s, std::size_t width) {
  if (s.size() > width) s = s.substr(0, width - 1) + "~";
  s.resize(width, ' ');
  return s;
}

std::string Clock(std::optional<double> t) {
  if (!t) return "--:--:--";
  const std::time_t secs = static_cast<std::time_t>(*t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
  return buf;
}

std::string Bar(int part, int total, int width) {
  const int filled = total > 0 ? std::clamp(part * width / total, 0, width) : 0;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(width - filled), '-') + "]";
}

// The state column: "done    ", or "skipped (already processed)" for a skipped video with a
// reason (then not padded, nor cut).
std::string StateColumn(const VideoProgress& v) {
  const std::string reason = SkipReason(v);
  return reason.empty() ? Pad(v.state, 8) : v.state + " (" + reason + ")";
}

// The error shown after a video's line: none when it is the skip reason already shown.
std::string ShownError(const VideoProgress& v) {
  return v.error == SkipReason(v) ? std::string() : v.error;
}

}  // namespace

std::string SkipReason(const VideoProgress& v) {
  if (v.state != "skipped") return "";
  return v.skip_reason.empty() ? v.error : v.skip_reason;
}

std::optional<double> ParseTimestamp(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h, &mi, &s, &ms) <
      6) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<double>(timegm(&tm)) + ms / 1000.0;
}

std::string FormatDuration(double seconds) {
  seconds = std::max(0.0, seconds);
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", seconds);
    return buf;
  }
  const long total = std::lround(seconds);
  if (total < 3600) {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", total / 60, total % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", total / 3600, (total / 60) % 60, total % 60);
  }
  return buf;
}

void JobProgress::ApplySnapshot(const json& view) {
  job_id_ = Str(view, "job_id");
  channel_ = Str(view, "channel");
  state_ = Str(view, "state");
  error_ = Str(view, "error");
  video_count_.reset();
  if (view.contains("video_count") && view["video_count"].is_number_integer()) {
    video_count_ = view["video_count"].get<int>();
  }
  started_ = ParseTimestamp(Str(view, "started_at"));
  if (!started_) started_ = ParseTimestamp(Str(view, "created_at"));
  finished_ = ParseTimestamp(Str(view, "finished_at"));
  order_.clear();
  videos_.clear();
  if (view.contains("videos") && view["videos"].is_array()) {
    for (const auto& v : view["videos"]) {
      VideoProgress p;
      p.video_id = Str(v, "video_id");
      p.title = Str(v, "title");
      p.stage = Str(v, "stage");
      p.state = Str(v, "state");
      p.error = Str(v, "last_error");
      p.skip_reason = Str(v, "skip_reason");
      p.attempts = v.value("attempts", 0);
      p.started = FirstStart(v.value("timings", json::object()));
      p.updated = ParseTimestamp(Str(v, "updated_at"));
      order_.push_back(p.video_id);
      videos_[p.video_id] = std::move(p);
    }
  }
}

std::string JobProgress::ApplyVideo(const json& data) {
  const std::string id = Str(data, "video_id");
  if (id.empty()) return "";
  auto [it, inserted] = videos_.try_emplace(id);
  if (inserted) order_.push_back(id);
  VideoProgress& v = it->second;
  v.video_id = id;
  if (!Str(data, "title").empty()) v.title = Str(data, "title");
  v.stage = Str(data, "stage");
  v.state = Str(data, "state");
  v.error = Str(data, "error");
  v.skip_reason = Str(data, "skip_reason");
  v.attempts = data.value("attempts", v.attempts);
  if (data.contains("timings")) {
    if (auto s = FirstStart(data["timings"])) v.started = s;
  }
  v.updated = ParseTimestamp(Str(data, "updated_at"));
  if (!started_ && v.started) started_ = v.started;
  return VideoLine(v);
}

std::string JobProgress::ApplyJob(const json& data) {
  const std::string old_state = state_;
  state_ = Str(data, "state");
  error_ = Str(data, "error");
  if (data.contains("video_count") && data["video_count"].is_number_integer()) {
    video_count_ = data["video_count"].get<int>();
  }
  if (auto f = ParseTimestamp(Str(data, "finished_at"))) finished_ = f;
  if (!started_ && state_ == "running") started_ = ParseTimestamp(Str(data, "updated_at"));
  // A line only when the job's state or its finished counts changed.
  const std::string progress = state_ + "/" + std::to_string(CountState("done")) + "/" +
                               std::to_string(CountState("failed")) + "/" +
                               std::to_string(CountState("skipped")) + "/" +
                               std::to_string(video_count_.value_or(-1));
  if (progress == last_progress_ && old_state == state_) return "";
  last_progress_ = progress;
  const double now = finished_.value_or(static_cast<double>(std::time(nullptr)));
  return Clock(now) + "  job " + ProgressLine(now);
}

bool JobProgress::Terminal() const {
  return state_ == "completed" || state_ == "completed_with_errors" || state_ == "failed" ||
         state_ == "cancelled";
}

int JobProgress::Total() const {
  return std::max(video_count_.value_or(0), static_cast<int>(videos_.size()));
}

int JobProgress::CountState(const std::string& state) const {
  return static_cast<int>(std::count_if(videos_.begin(), videos_.end(),
                                        [&](const auto& kv) { return kv.second.state == state; }));
}

StageTally JobProgress::Tally(const std::string& stage) const {
  StageTally t;
  const int here = StageIndex(stage);
  for (const auto& [_, v] : videos_) {
    const int at = StageIndex(v.stage);
    // A video skipped with a skip reason ("already processed") has its documents from an earlier
    // job: it passed every stage, as the dashboard shows it. A cancelled one has none.
    const bool reused = v.state == "skipped" && !v.skip_reason.empty();
    if (at > here || (at == here && (v.state == "done" || reused))) {
      ++t.passed;
    } else if (at == here && v.state == "running") {
      ++t.running;
    } else if (at == here && v.state == "failed") {
      ++t.failed;
    }
  }
  return t;
}

std::optional<double> JobProgress::EtaSeconds(double now) const {
  const int finished = CountState("done") + CountState("failed") + CountState("skipped");
  const int remaining = Total() - finished;
  if (Total() == 0) return std::nullopt;  // not discovered yet
  if (remaining <= 0) return 0.0;
  if (finished == 0 || !started_ || now <= *started_) return std::nullopt;
  const double rate = finished / (now - *started_);
  return remaining / rate;
}

std::string JobProgress::ProgressLine(double now) const {
  std::string line = state_;
  if (video_count_ || !videos_.empty()) {
    line += ": " + std::to_string(CountState("done")) + "/" + std::to_string(Total()) + " done, " +
            std::to_string(CountState("failed")) + " failed, " +
            std::to_string(CountState("skipped")) + " skipped";
    const int running = CountState("running");
    if (running > 0) line += ", " + std::to_string(running) + " running";
  }
  if (!Terminal()) {
    if (auto eta = EtaSeconds(now)) {
      line += ", about " + FormatDuration(*eta) + " left";
    } else if (state_ == "running") {
      line += ", estimating time left";
    }
  }
  return line;
}

std::size_t JobProgress::IdWidth() const {
  std::size_t width = 24;
  for (const auto& [id, _] : videos_) width = std::max(width, id.size());
  return std::min<std::size_t>(width, 64);
}

std::string JobProgress::VideoLine(const VideoProgress& v) const {
  std::string line = Clock(v.updated) + "  " + Pad(v.video_id, IdWidth()) + "  " +
                     Pad(v.stage, 16) + "  " + StateColumn(v);
  if (v.started && v.updated) line += "  " + FormatDuration(*v.updated - *v.started);
  if (v.state == "running" && v.attempts > 1) line += "  attempt " + std::to_string(v.attempts);
  if (const auto error = ShownError(v); !error.empty()) line += "  " + error;
  return line;
}

std::string JobProgress::RenderBlock(double now, int max_video_lines) const {
  std::string out = "job " + job_id_ + "  " + channel_ + "\n  " + ProgressLine(now) + "\n";
  const int total = Total();
  for (const char* stage : kStages) {
    const auto t = Tally(stage);
    out += "  " + Pad(stage, 17) + " " + Bar(t.passed, total, 24) + " " + std::to_string(t.passed) +
           "/" + std::to_string(total);
    if (t.running > 0) out += "  " + std::to_string(t.running) + " running";
    if (t.failed > 0) out += "  " + std::to_string(t.failed) + " failed";
    out += "\n";
  }
  int shown = 0;
  for (const auto& id : order_) {
    if (shown >= max_video_lines) {
      out += "  ... " + std::to_string(order_.size() - static_cast<std::size_t>(shown)) + " more\n";
      break;
    }
    const auto& v = videos_.at(id);
    std::string line =
        "  " + Pad(v.video_id, IdWidth()) + "  " + Pad(v.stage, 16) + "  " + StateColumn(v);
    if (v.started) {
      const double end = (v.state == "done" || v.state == "failed" || v.state == "skipped")
                             ? v.updated.value_or(now)
                             : now;
      line += "  " + FormatDuration(end - *v.started);
    }
    if (const auto error = ShownError(v); !error.empty()) line += "  " + error.substr(0, 60);
    out += line + "\n";
    ++shown;
  }
  return out;
}

std::string JobProgress::SummaryLine(double now) const {
  const double end = finished_.value_or(now);
  std::string line = "job " + job_id_ + " " + state_ + ": " + std::to_string(CountState("done")) +
                     " done, " + std::to_string(CountState("failed")) + " failed, " +
                     std::to_string(CountState("skipped")) + " skipped";
  if (started_) line += " in " + FormatDuration(end - *started_);
  if (!error_.empty() && state_ == "failed") line += " (" + error_ + ")";
  return line;
}

std::string JobNotes(const nlohmann::json& job) {
  std::string out;
  if (!job.is_object()) return out;
  if (job.contains("error") && job["error"].is_string()) {
    out += "  error: " + job["error"].get<std::string>() + "\n";
  }
  if (job.contains("warnings") && job["warnings"].is_array()) {
    for (const auto& w : job["warnings"]) {
      if (!w.is_object()) continue;
      out += "  warning (" + w.value("code", std::string("?"));
      const auto count = w.value("count", std::int64_t{1});
      if (count > 1) out += ", " + std::to_string(count) + " times";
      out += "): " + w.value("message", std::string()) + "\n";
    }
  }
  return out;
}

}  // namespace chansum::cli
