#pragma once
// SHA-256 by libcrypto (EVP): migration checksums (libs/pg), source keys of feed items
// (libs/media).
#include <string>
#include <string_view>

namespace chansum {

// Lowercase hex digest of `data` (64 characters).
[[nodiscard]] std::string Sha256Hex(std::string_view data);

}  // namespace chansum
