#pragma once
// What the libcurl fetchers of this library (the direct media download, the feed fetch) share in
// one request's state: the connect check, the error that ended the transfer, and the stop check.
#include <curl/curl.h>

#include <functional>
#include <optional>

#include "chansum/common/result.hpp"
#include "chansum/net/curl_pinned.hpp"

namespace chansum::media {

// The part of one request's state that its libcurl callbacks share; a fetcher's own state derives
// from it.
struct CurlExchange {
  net::CurlConnectCheck connect;  // the URL's host, for the connect check; its refusal
  std::optional<Error> abort;     // set by the callback that ended the transfer
  const std::function<bool()>* should_stop = nullptr;
  const char* stopped_message = "";  // of the transient "canceled" error a stop leaves in abort
};

// CURLOPT_XFERINFOFUNCTION (CURLOPT_XFERINFODATA: a CurlExchange): ends the transfer when
// should_stop() says so.
inline int AbortWhenStopped(void* userp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* ex = static_cast<CurlExchange*>(userp);
  if (ex->should_stop != nullptr && *ex->should_stop && (*ex->should_stop)()) {
    ex->abort = Error::Transient("canceled", ex->stopped_message);
    return 1;
  }
  return 0;
}

// `c` checks `should_stop` while it transfers (libcurl calls back about once a second, and on
// every chunk); a stop ends it with the transient "canceled" error `message` in ex.abort.
// `should_stop` and `ex` must outlive the transfer.
inline void StopWhenAsked(CURL* c, CurlExchange& ex, const std::function<bool()>& should_stop,
                          const char* message) {
  ex.should_stop = &should_stop;
  ex.stopped_message = message;
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, AbortWhenStopped);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &ex);
}

}  // namespace chansum::media
