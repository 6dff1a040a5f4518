#pragma once
// The parts every yt-dlp command line shares (discovery, download, captions).
#include <chrono>
#include <string>
#include <vector>

#include "chansum/media/process.hpp"
#include "chansum/media/ytdlp.hpp"

namespace chansum::media {

// `<binary> --ignore-config --no-warnings --no-progress --no-color --socket-timeout S`.
[[nodiscard]] std::vector<std::string> YtDlpBaseArgs(const YtDlpOptions& options);

// The run's limit, kill grace, stop predicate and a UTF-8 Python environment.
[[nodiscard]] ProcessOptions YtDlpProcessOptions(const YtDlpOptions& options,
                                                 std::chrono::milliseconds timeout);

// `s` with '%' doubled: a directory put into yt-dlp's output template ("-o <dir>/media.%(ext)s").
[[nodiscard]] std::string EscapeOutputTemplate(const std::string& s);

}  // namespace chansum::media
