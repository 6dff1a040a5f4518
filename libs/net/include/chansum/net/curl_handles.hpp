#pragma once
// libcurl's one-time global initialisation and owning handles, for every libcurl user of the
// project (the direct media download, the OpenAI-compatible clients, the CLI's API client).
// Header-only: its users link CURL::libcurl themselves.
#include <memory>
#include <mutex>

#include <curl/curl.h>

namespace chansum::net {

// curl_global_init once per process, before the first handle (it is not thread-safe itself).
inline void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

}  // namespace chansum::net
