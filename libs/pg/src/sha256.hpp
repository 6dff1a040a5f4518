#pragma once
// SHA-256 (libcrypto's EVP) of migration files, for their checksums.
#include <string>
#include <string_view>

namespace chansum::pg::internal {

// Lowercase hex digest of `data`.
[[nodiscard]] std::string Sha256Hex(std::string_view data);

}  // namespace chansum::pg::internal
