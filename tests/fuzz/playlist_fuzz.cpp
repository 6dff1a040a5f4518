// yt-dlp's `--flat-playlist -J` output as discovery parses it (ParsePlaylist): the text comes
// from whatever a channel or feed publishes. Properties: every entry has an id and a URL that
// ValidateHttpUrl accepts (Download is given it), and no two entries share an id.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "chansum/media/channel.hpp"
#include "chansum/media/ytdlp.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto playlist = chansum::media::ParsePlaylist(input);
  if (!playlist.ok()) {
    CHANSUM_FUZZ_CHECK(!playlist.error().transient());
    return 0;
  }
  std::set<std::string> ids;
  for (const auto& e : playlist->entries) {
    CHANSUM_FUZZ_CHECK(!e.id.empty());
    CHANSUM_FUZZ_CHECK(ids.insert(e.id).second);
    CHANSUM_FUZZ_CHECK(chansum::media::ValidateHttpUrl(e.url).ok());
    const auto safe = chansum::media::SanitizeId(e.id);
    CHANSUM_FUZZ_CHECK(!safe.empty() && safe != "." && safe != ".." &&
                       safe.find('/') == std::string::npos);
  }
  return 0;
}
