#pragma once
// A small client for OpenAI-compatible HTTP APIs (OpenAI, Groq, Ollama, vLLM, llama.cpp and
// whisper.cpp servers): JSON and multipart POSTs over libcurl with the retry policy every caller
// wants:
//   - 429: wait Retry-After (seconds or an HTTP date; the exponential backoff when absent) and try
//     again; a Retry-After longer than max_retry_wait ends the call at once with a transient
//     "rate_limited" error whose retry_after is that wait, so the stage runner's retry waits for
//     it (so does a 429 on the last try);
//   - 5xx, 408, 409 and connection failures/timeouts: exponential backoff, then a transient error;
//   - 400, 401, 403, 404, 413, 422 (any other 4xx): a permanent error at once, carrying the
//     API's own {"error": {"message", "type", "code"}} text.
// The API key goes only into the Authorization header; it is never logged or put in an error.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/common/result.hpp"

namespace chansum::openai {

struct ClientOptions {
  std::string base_url;  // e.g. "https://api.openai.com/v1" or "http://127.0.0.1:11434/v1"
  std::string api_key;   // empty: no Authorization header (Ollama, local servers)
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // one HTTP request
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  int max_retries = 4;  // further tries after the first, for 429/5xx/network errors
  std::chrono::milliseconds retry_base_delay{std::chrono::seconds(1)};  // doubles per try
  std::chrono::milliseconds max_retry_wait{std::chrono::seconds(60)};   // cap of one wait
  std::string error_prefix = "openai";  // error codes are "<prefix>_<what>", e.g. "llm_auth"
};

struct FilePart {
  std::string name;          // form field, e.g. "file"
  std::string filename;      // e.g. "chunk.wav"
  std::string content_type;  // e.g. "audio/wav"
  std::string data;          // the bytes
};

struct Multipart {
  std::vector<std::pair<std::string, std::string>> fields;  // name, value
  std::vector<FilePart> files;
};

// What one call cost in retries (for logs and tests).
struct CallStats {
  int attempts = 0;
  int rate_limited = 0;   // 429 answers seen
  int server_errors = 0;  // 5xx / network failures seen
};

class Client {
 public:
  explicit Client(ClientOptions options);

  // POST <base_url><path> with a JSON body; returns the parsed JSON answer of a 2xx.
  [[nodiscard]] Result<nlohmann::json> PostJson(std::string_view path, const nlohmann::json& body,
                                                const std::function<bool()>& should_stop = {},
                                                CallStats* stats = nullptr) const;
  // POST <base_url><path> as multipart/form-data.
  [[nodiscard]] Result<nlohmann::json> PostMultipart(std::string_view path, const Multipart& form,
                                                     const std::function<bool()>& should_stop = {},
                                                     CallStats* stats = nullptr) const;

  [[nodiscard]] const ClientOptions& options() const { return options_; }

 private:
  struct Body;
  [[nodiscard]] Result<nlohmann::json> Post(std::string_view path, const Body& body,
                                            const std::function<bool()>& should_stop,
                                            CallStats* stats) const;
  ClientOptions options_;
};

// Retry-After: delta seconds ("3") or an HTTP date; nullopt when absent or unreadable.
[[nodiscard]] std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value);

// The Error for a non-2xx answer: permanent for 4xx other than 408/409/429, transient otherwise.
// The message names the status and the API's error message/type/code when the body has them.
[[nodiscard]] Error ErrorForStatus(long status, std::string_view body, std::string_view prefix);

}  // namespace chansum::openai
