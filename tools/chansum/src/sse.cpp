#include "chansum/cli/sse.hpp"

#include <algorithm>

namespace chansum::cli {

void SseParser::Feed(const std::string& chunk) {
  for (char c : chunk) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') continue;  // CRLF: the CR already ended the line
    }
    if (c == '\r' || c == '\n') {
      pending_cr_ = c == '\r';
      Line(buffer_);
      buffer_.clear();
    } else {
      buffer_.push_back(c);
    }
  }
}

void SseParser::Line(const std::string& line) {
  if (line.empty()) {  // dispatch
    if (has_data_) {
      if (!current_.id.empty()) last_event_id_ = current_.id;
      on_event_(current_);
    }
    current_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (line[0] == ':') {
    ++comments_;
    return;
  }
  const auto colon = line.find(':');
  std::string field = line.substr(0, colon);
  std::string value;
  if (colon != std::string::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
  }
  if (field == "event") {
    current_.type = value;
  } else if (field == "data") {
    if (has_data_) current_.data += "\n";
    current_.data += value;
    has_data_ = true;
  } else if (field == "id") {
    if (value.find('\0') == std::string::npos) current_.id = value;
  } else if (field == "retry") {
    if (!value.empty() &&
        std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      retry_ms_ = std::stol(value);
    }
  }
}

}  // namespace chansum::cli
