#pragma once
// The parts every yt-dlp command line shares (discovery, download, captions).
#include <chrono>
#include <string>
#include <vector>

#include "chansum/common/result.hpp"
#include "chansum/media/process.hpp"
#include "chansum/media/ytdlp.hpp"

namespace chansum::media {

// `<binary> --ignore-config --no-warnings --no-progress --no-color --socket-timeout S`, then
// `--proxy P` when YTDLP_PROXY is set. The cookies file is added by RunYtDlp (a private copy).
[[nodiscard]] std::vector<std::string> YtDlpBaseArgs(const YtDlpOptions& options);

// The run's limit, kill grace, stop predicate and a UTF-8 Python environment.
[[nodiscard]] ProcessOptions YtDlpProcessOptions(const YtDlpOptions& options,
                                                 std::chrono::milliseconds timeout);

// Runs a yt-dlp command line built on YtDlpBaseArgs: with YTDLP_COOKIES_FILE set, a private copy
// of the file (mode 0600 in a private temporary directory, removed afterwards) is passed as
// `--cookies` right after the program, since yt-dlp writes the jar back when it exits. yt-dlp's
// stderr comes back with the secrets scrubbed (ScrubSecrets).
[[nodiscard]] Result<ProcessResult> RunYtDlp(std::vector<std::string> argv,
                                             const YtDlpOptions& options,
                                             std::chrono::milliseconds timeout);

// `s` with '%' doubled: a directory put into yt-dlp's output template ("-o <dir>/media.%(ext)s").
[[nodiscard]] std::string EscapeOutputTemplate(const std::string& s);

}  // namespace chansum::media
