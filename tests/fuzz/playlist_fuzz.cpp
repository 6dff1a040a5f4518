// yt-dlp's `--flat-playlist -J` output as discovery parses it (ParsePlaylist): the text comes
// from whatever a channel or feed publishes. Properties: every entry has an id and a URL that
// ValidateHttpUrl accepts (Download is given it), and no two entries share an id; every entry's
// source-scoped key (issue 18 §3.6) is unique, at most 128 characters of the API's video id
// alphabet, and only a YouTube entry's key is a bare id (no ':').
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
  std::set<std::string> keys;
  for (const auto& e : playlist->entries) {
    CHANSUM_FUZZ_CHECK(!e.key.empty() && e.key.size() <= 128);
    CHANSUM_FUZZ_CHECK(keys.insert(e.key).second);
    for (char c : e.key) {
      CHANSUM_FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == ':');
    }
    CHANSUM_FUZZ_CHECK((e.key.find(':') == std::string::npos) == (e.source == "youtube"));
    CHANSUM_FUZZ_CHECK(!e.id.empty());
    CHANSUM_FUZZ_CHECK(ids.insert(e.id).second);
    CHANSUM_FUZZ_CHECK(chansum::media::ValidateHttpUrl(e.url).ok());
    const auto safe = chansum::media::SanitizeId(e.id);
    CHANSUM_FUZZ_CHECK(!safe.empty() && safe != "." && safe != ".." &&
                       safe.find('/') == std::string::npos);
  }
  return 0;
}
