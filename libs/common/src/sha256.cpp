#include "chansum/common/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include "chansum/common/strings.hpp"

namespace chansum {

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest(SHA-256) failed");
  }
  return HexLower(std::string_view(reinterpret_cast<const char*>(digest), size));
}

}  // namespace chansum
