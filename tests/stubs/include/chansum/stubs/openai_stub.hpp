#pragma once
// OpenAiStub: an in-process HTTP server that answers like an OpenAI-compatible API, for contract
// and end-to-end tests (nothing here may reach the internet).
//
//   POST /v1/chat/completions      {model, messages:[{role, content}], max_tokens?} ->
//       {id, object:"chat.completion", created, model,
//        choices:[{index:0, message:{role:"assistant", content}, finish_reason:"stop"}],
//        usage:{prompt_tokens, completion_tokens, total_tokens}}
//     content (deterministic): "Summary of <n> words: <the first 12 words of the last user
//     message's text between <transcript> tags, or of the whole message>.\n\nKey points:\n- ..."
//     (three key points: the three most frequent words of 5+ letters).
//     A prompt over context_tokens (chars/4) answers 400 context_length_exceeded.
//   POST /v1/audio/transcriptions  multipart: file (16 kHz mono 16-bit WAV), model,
//       response_format (json | verbose_json | text), language? ->
//       verbose_json {task, language, duration, text, segments:[{id, seek, start, end, text,
//       tokens, temperature, avg_logprob, compression_ratio, no_speech_prob}]}
//     One segment per loud region of the file (20 ms frames with peak >= 500, gaps < 0.3 s
//     merged), text "level <k>" with k = round(peak / 1000): tests make tones of known loudness
//     at known times and check where the client put them. A file over max_file_bytes answers 413.
//   Errors are {"error": {"message", "type", "param", "code"}}; a wrong or missing bearer token
//   (when api_key is set) answers 401 invalid_api_key.
//
// Control (tests and the e2e run):
//   POST /stub/script {"chat": [{"status": 429, "retry_after": 1}, {"status": 500}],
//                      "transcriptions": [...]}  queues answers served before the normal ones
//   GET  /stub/requests   every request received: {endpoint, status, authorization, model,
//                         response_format, language, file_bytes, prompt_tokens, user_chars}
//   DELETE /stub/requests clears the log.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace chansum::stubs {

struct StubOptions {
  std::string api_key;                     // empty: any (or no) bearer token is accepted
  long context_tokens = 1'000'000;         // prompt tokens (chars / 4) above which chat answers 400
  long max_file_bytes = 25 * 1024 * 1024;  // OpenAI's documented 25 MB upload limit
};

struct ScriptedReply {
  int status = 500;
  int retry_after = -1;  // seconds; < 0: no Retry-After header
};

class OpenAiStub {
 public:
  explicit OpenAiStub(StubOptions options = {});
  ~OpenAiStub();
  OpenAiStub(const OpenAiStub&) = delete;
  OpenAiStub& operator=(const OpenAiStub&) = delete;

  // Listens on 127.0.0.1:`port` (0 = any free port) in a background thread; returns the port.
  int Start(int port = 0);
  void Stop();
  [[nodiscard]] std::string BaseUrl() const;  // "http://127.0.0.1:<port>/v1"

  // endpoint: "chat" or "transcriptions".
  void Script(const std::string& endpoint, std::vector<ScriptedReply> replies);
  [[nodiscard]] nlohmann::json Requests() const;
  void ClearRequests();

  // Blocks serving on host:port (for the standalone binary).
  bool ListenForever(const std::string& host, int port);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chansum::stubs
