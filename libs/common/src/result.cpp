#include "chansum/common/result.hpp"

namespace chansum {

const char* ToString(ErrorClass cls) noexcept {
  switch (cls) {
    case ErrorClass::kTransient:
      return "transient";
    case ErrorClass::kPermanent:
      return "permanent";
  }
  return "unknown";
}

std::string Error::ToString() const {
  std::string out = chansum::ToString(cls);
  out += " error";
  if (!code.empty()) out += " [" + code + "]";
  if (!message.empty()) out += ": " + message;
  if (retry_after) {
    const auto ms = retry_after->count();
    out += ms % 1000 == 0 ? " (retry in " + std::to_string(ms / 1000) + " s)"
                          : " (retry in " + std::to_string(ms) + " ms)";
  }
  return out;
}

}  // namespace chansum
