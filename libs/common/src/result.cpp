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
  return out;
}

}  // namespace chansum
