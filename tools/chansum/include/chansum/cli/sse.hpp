#pragma once
// Incremental parser of a text/event-stream (the WHATWG Server-Sent Events format): fed raw
// chunks as they arrive, it hands back complete events. Comments (": heartbeat") are counted.
#include <functional>
#include <string>

namespace chansum::cli {

struct SseEvent {
  std::string type = "message";  // "event:" field
  std::string id;                // "id:" field ("" when the event had none)
  std::string data;              // "data:" lines joined with "\n"
};

class SseParser {
 public:
  using Callback = std::function<void(const SseEvent&)>;
  explicit SseParser(Callback on_event) : on_event_(std::move(on_event)) {}

  void Feed(const std::string& chunk);

  // The last "id:" seen (what a reconnect sends as Last-Event-ID).
  [[nodiscard]] const std::string& last_event_id() const { return last_event_id_; }
  [[nodiscard]] int comments() const { return comments_; }
  [[nodiscard]] long retry_ms() const { return retry_ms_; }

 private:
  void Line(const std::string& line);

  Callback on_event_;
  std::string buffer_;
  SseEvent current_;
  bool has_data_ = false;
  bool pending_cr_ = false;
  std::string last_event_id_;
  int comments_ = 0;
  long retry_ms_ = -1;
};

}  // namespace chansum::cli
