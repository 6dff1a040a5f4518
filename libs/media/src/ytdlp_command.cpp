#include "ytdlp_command.hpp"

#include <algorithm>

namespace chansum::media {

std::vector<std::string> YtDlpBaseArgs(const YtDlpOptions& options) {
  const auto socket_s = std::max<long long>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options.socket_timeout).count());
  return {options.binary, "--ignore-config",  "--no-warnings",         "--no-progress",
          "--no-color",   "--socket-timeout", std::to_string(socket_s)};
}

ProcessOptions YtDlpProcessOptions(const YtDlpOptions& options, std::chrono::milliseconds timeout) {
  ProcessOptions p;
  p.timeout = timeout;
  p.kill_grace = options.kill_grace;
  p.should_stop = options.should_stop;
  p.env = {{"PYTHONUTF8", "1"}, {"PYTHONIOENCODING", "utf-8"}};
  return p;
}

std::string EscapeOutputTemplate(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%') out.push_back('%');
    out.push_back(c);
  }
  return out;
}

}  // namespace chansum::media
