#pragma once
// Channel input as typed by a user, checked and turned into the URL given to yt-dlp. Everything
// that reaches yt-dlp's command line from a user passes through here: nothing that starts with
// '-' (it would be read as an option), no control characters or inner whitespace, only http(s).
#include <string>
#include <string_view>

#include "chansum/common/result.hpp"

namespace chansum::media {

enum class ChannelKind { kHandle, kChannelId, kUrl };
[[nodiscard]] const char* ToString(ChannelKind kind) noexcept;  // "handle", "channel_id", "url"

struct ChannelRef {
  std::string input;  // as given (surrounding whitespace trimmed)
  std::string url;    // what discovery hands to yt-dlp
  ChannelKind kind = ChannelKind::kUrl;
};

inline constexpr std::size_t kMaxChannelInputLength = 2048;

// "@handle"                      -> https://www.youtube.com/@handle/videos
// "UC" + 22 of [A-Za-z0-9_-]      -> https://www.youtube.com/channel/UC.../videos
// http(s) URL with a host         -> passed through (scheme lower-cased); a bare YouTube channel
// URL
//                                    (/@h, /channel/UC..., /c/x, /user/x) gets "/videos" appended
// Anything else is a permanent "invalid_channel" error whose message can be shown to the user.
[[nodiscard]] Result<ChannelRef> NormalizeChannel(std::string_view input);

// Checks a URL that will be handed to yt-dlp (absolute http/https, a host, no credentials, no
// whitespace or control characters, not starting with '-'). Permanent "invalid_url" otherwise.
[[nodiscard]] Status ValidateHttpUrl(std::string_view url);

}  // namespace chansum::media
