#pragma once
// Minimal SHA-256 (FIPS 180-4) for migration checksums; not for secrets.
#include <string>
#include <string_view>

namespace chansum::pg::internal {

// Lowercase hex digest of `data`.
[[nodiscard]] std::string Sha256Hex(std::string_view data);

}  // namespace chansum::pg::internal
