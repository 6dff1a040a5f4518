// Channel input as a user types it (NormalizeChannel) and URLs checked before they reach yt-dlp
// (ValidateHttpUrl). Properties: whatever NormalizeChannel accepts becomes an http(s) URL that
// ValidateHttpUrl accepts, never starts with '-' and holds no control characters or spaces.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chansum/media/channel.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto ref = chansum::media::NormalizeChannel(input);
  if (ref.ok()) {
    const auto& url = ref->url;
    CHANSUM_FUZZ_CHECK(!url.empty() && url.front() != '-');
    CHANSUM_FUZZ_CHECK(url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0);
    for (char c : url) {
      const auto u = static_cast<unsigned char>(c);
      CHANSUM_FUZZ_CHECK(u > 0x20 && u != 0x7f);
    }
    CHANSUM_FUZZ_CHECK(chansum::media::ValidateHttpUrl(url).ok());
  } else {
    CHANSUM_FUZZ_CHECK(!ref.error().transient() && !ref.error().message.empty());
  }
  if (chansum::media::ValidateHttpUrl(input).ok()) {
    CHANSUM_FUZZ_CHECK(!input.empty() && input.front() != '-');
  }
  return 0;
}
