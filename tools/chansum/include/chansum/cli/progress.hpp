#pragma once
// The state of one job as `chansum watch` follows it: built from the stream's snapshot and
// updated by its `video` and `job` events; rendered as a terminal block (progress bar per stage,
// a line per video, time left) or as plain lines.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace chansum::cli {

inline constexpr const char* kStages[] = {"download", "audio_extraction", "transcription",
                                          "summarization"};

// "2026-01-01T12:00:00.123Z" -> seconds since the epoch (nullopt when not in that form).
[[nodiscard]] std::optional<double> ParseTimestamp(const std::string& text);
// 75.2 -> "1:15", 3725 -> "1:02:05"; under a minute with one decimal: "12.3s".
[[nodiscard]] std::string FormatDuration(double seconds);

struct VideoProgress {
  std::string video_id;
  std::string title;
  std::string stage;
  std::string state;
  std::string error;
  std::string skip_reason;  // the API's skip_reason ("already processed"), empty when none
  int attempts = 0;
  std::optional<double> started;  // first stage start (epoch seconds)
  std::optional<double> updated;  // last change
};

// Why a `skipped` video was skipped: its skip_reason, else its error ("cancelled" when a cancel
// skipped it). Empty for a video in another state.
[[nodiscard]] std::string SkipReason(const VideoProgress& v);

struct StageTally {
  int passed = 0;   // finished this stage (or moved beyond it)
  int running = 0;  // at this stage, running
  int failed = 0;   // failed at this stage
};

class JobProgress {
 public:
  void ApplySnapshot(const nlohmann::json& view);
  // Returns the plain-output line for the event (empty when nothing worth a line changed).
  std::string ApplyVideo(const nlohmann::json& data);
  std::string ApplyJob(const nlohmann::json& data);

  [[nodiscard]] const std::string& job_id() const { return job_id_; }
  [[nodiscard]] const std::string& state() const { return state_; }
  [[nodiscard]] bool Terminal() const;
  [[nodiscard]] int Total() const;
  [[nodiscard]] int CountState(const std::string& state) const;
  [[nodiscard]] StageTally Tally(const std::string& stage) const;
  // Seconds left at `now` from the rate videos finish at so far (nullopt before the first one).
  [[nodiscard]] std::optional<double> EtaSeconds(double now) const;

  [[nodiscard]] std::string ProgressLine(double now) const;  // "running: 2/6 done, ... left"
  [[nodiscard]] std::string RenderBlock(double now, int max_video_lines) const;
  [[nodiscard]] std::string SummaryLine(double now) const;
  [[nodiscard]] std::string VideoLine(const VideoProgress& v) const;
  // Width of the video column: the longest id seen (feed keys such as
  // "feed:<guid>:<hash>" are long), at least 24 and at most 64, so ids stay whole and can be
  // pasted into `chansum transcript`.
  [[nodiscard]] std::size_t IdWidth() const;

 private:
  std::string job_id_;
  std::string channel_;
  std::string state_;
  std::string error_;
  std::optional<int> video_count_;
  std::optional<double> started_;
  std::optional<double> finished_;
  std::vector<std::string> order_;  // video ids in listing order
  std::map<std::string, VideoProgress> videos_;
  std::string last_progress_;
};

// The lines `chansum show` prints under a job's block: "  error: ..." and one
// "  warning (<code>[, N times]): <message>" per entry of the job's `warnings` (issue 15 §2,
// e.g. bot_check: cookies or a proxy are needed). Empty when there are none.
[[nodiscard]] std::string JobNotes(const nlohmann::json& job);

}  // namespace chansum::cli
