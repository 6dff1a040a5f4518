#pragma once
// The dashboard's static files (services/orchestrator/web/), embedded into the binary at build
// time by web/embed.cmake, so the orchestrator serves them with no files beside it.
#include <string_view>
#include <vector>

namespace chansum::orchestrator::web {

struct EmbeddedFile {
  std::string_view path;  // relative to web/, e.g. "app.js"
  std::string_view body;
};

// Every embedded file, in the order CMake listed them.
[[nodiscard]] const std::vector<EmbeddedFile>& Assets();

}  // namespace chansum::orchestrator::web
