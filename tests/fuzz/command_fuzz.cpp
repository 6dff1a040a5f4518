// Stage commands as a stage's runner parses them off its queue. Properties: a command that
// parses serializes back to one that parses to the same JSON; a failure carries a reason.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chansum/protocol/command.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto command = chansum::protocol::ParseCommand(input);
  if (!command.ok()) {
    CHANSUM_FUZZ_CHECK(!command.error().transient() && !command.error().message.empty());
    return 0;
  }
  const auto text = chansum::protocol::Serialize(*command);
  auto again = chansum::protocol::ParseCommand(text);
  CHANSUM_FUZZ_CHECK(again.ok());
  CHANSUM_FUZZ_CHECK(chansum::protocol::ToJson(*again) == chansum::protocol::ToJson(*command));
  return 0;
}
