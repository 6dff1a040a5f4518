// Domain events as the analytics and event_logger consumers parse them (the one parser in
// libs/protocol). Properties: an event that parses serializes back to one that parses to the same
// JSON; the raw step (the audit log's) accepts every event ParseEvent accepts, with the same id; a
// failure carries a reason.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chansum/protocol/events.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto raw = chansum::protocol::ParseRawEvent(input);
  if (!raw.ok()) CHANSUM_FUZZ_CHECK(!raw.error().message.empty());
  auto tolerant = chansum::protocol::ParseEvent(input, chansum::protocol::UnknownFields::kIgnore);
  if (tolerant.ok()) {
    // What the tolerant reader keeps is a valid event.
    CHANSUM_FUZZ_CHECK(chansum::protocol::ParseEvent(chansum::protocol::Serialize(*tolerant)).ok());
  }
  auto event = chansum::protocol::ParseEvent(input);
  if (!event.ok()) {
    CHANSUM_FUZZ_CHECK(!event.error().message.empty());
    return 0;
  }
  CHANSUM_FUZZ_CHECK(raw.ok() && raw->event_id == event->event_id);
  CHANSUM_FUZZ_CHECK(tolerant.ok() &&
                     chansum::protocol::ToJson(*tolerant) == chansum::protocol::ToJson(*event));
  const auto text = chansum::protocol::Serialize(*event);
  auto again = chansum::protocol::ParseEvent(text);
  CHANSUM_FUZZ_CHECK(again.ok());
  CHANSUM_FUZZ_CHECK(chansum::protocol::ToJson(*again) == chansum::protocol::ToJson(*event));
  return 0;
}
