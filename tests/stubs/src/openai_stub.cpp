#include "chansum/stubs/openai_stub.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <httplib.h>

namespace chansum::stubs {
namespace {

using nlohmann::json;

json ErrorBody(const std::string& message, const std::string& type, const json& code) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::string w;
  for (char ch : text) {
    if (std::isspace(static_cast<unsigned char>(ch))) {
      if (!w.empty()) words.push_back(std::move(w));
      w.clear();
    } else {
      w.push_back(ch);
    }
  }
  if (!w.empty()) words.push_back(std::move(w));
  return words;
}

std::string Lower(std::string s) {
  std::string out;
  for (char ch : s) {
    if (std::isalpha(static_cast<unsigned char>(ch))) {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
    }
  }
  return out;
}

long Tokens(std::size_t chars) { return static_cast<long>((chars + 3) / 4); }

struct Region {
  double start = 0;
  double end = 0;
  int peak = 0;
};

// Loud regions of a 16 kHz mono 16-bit WAV (see the header comment). Empty on a bad file.
bool ParseWav(const std::string& data, std::vector<std::int16_t>& samples) {
  if (data.size() < 12 || data.compare(0, 4, "RIFF") != 0 || data.compare(8, 4, "WAVE") != 0) {
    return false;
  }
  std::size_t pos = 12;
  while (pos + 8 <= data.size()) {
    std::uint32_t size = 0;
    std::memcpy(&size, data.data() + pos + 4, 4);
    if (data.compare(pos, 4, "data") == 0) {
      const std::size_t n = std::min<std::size_t>(size, data.size() - pos - 8) / 2;
      samples.resize(n);
      std::memcpy(samples.data(), data.data() + pos + 8, n * 2);
      return true;
    }
    pos += 8 + size + (size & 1);
  }
  return false;
}

std::vector<Region> LoudRegions(const std::vector<std::int16_t>& samples) {
  constexpr int kFrame = 320;  // 20 ms
  std::vector<Region> regions;
  for (std::size_t f = 0; f * kFrame < samples.size(); ++f) {
    int peak = 0;
    for (std::size_t i = f * kFrame; i < std::min(samples.size(), (f + 1) * kFrame); ++i) {
      peak = std::max(peak, std::abs(static_cast<int>(samples[i])));
    }
    if (peak < 500) continue;
    const double start = static_cast<double>(f * kFrame) / 16000.0;
    const double end = static_cast<double>(std::min(samples.size(), (f + 1) * kFrame)) / 16000.0;
    if (!regions.empty() && start - regions.back().end < 0.3) {
      regions.back().end = end;
      regions.back().peak = std::max(regions.back().peak, peak);
    } else {
      regions.push_back({start, end, peak});
    }
  }
  return regions;
}

}  // namespace

struct OpenAiStub::Impl {
  StubOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  mutable std::mutex mu;
  std::map<std::string, std::deque<ScriptedReply>> script;
  json requests = json::array();
  long counter = 0;

  void Record(json entry) {
    std::lock_guard lock(mu);
    requests.push_back(std::move(entry));
  }

  // True (and the answer set) when a scripted reply or the auth check answers this request.
  bool Intercept(const std::string& endpoint, const httplib::Request& req, httplib::Response& res,
                 json& entry) {
    const std::string auth = req.get_header_value("Authorization");
    entry["authorization"] = auth;
    if (!options.api_key.empty() && auth != "Bearer " + options.api_key) {
      std::string shown = auth.size() > 11
                              ? auth.substr(7, 4) + "..." + auth.substr(auth.size() - 3)
                              : std::string("(none)");
      SendJson(
          res, 401,
          ErrorBody(
              "Incorrect API key provided: " + shown +
                  ". You can find your API key at https://platform.openai.com/account/api-keys.",
              "invalid_request_error", "invalid_api_key"));
      return true;
    }
    ScriptedReply reply;
    {
      std::lock_guard lock(mu);
      auto& queue = script[endpoint];
      if (queue.empty()) return false;
      reply = queue.front();
      queue.pop_front();
    }
    if (reply.retry_after >= 0) res.set_header("Retry-After", std::to_string(reply.retry_after));
    if (reply.status == 429) {
      SendJson(res, 429,
               ErrorBody("Rate limit reached for requests. Please try again later.", "requests",
                         "rate_limit_exceeded"));
    } else if (reply.status == 401) {
      SendJson(
          res, 401,
          ErrorBody("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"));
    } else if (reply.status >= 500) {
      SendJson(res, reply.status,
               ErrorBody("The server had an error while processing your request. Sorry about that!",
                         "server_error", nullptr));
    } else {
      SendJson(res, reply.status, ErrorBody("Scripted error.", "invalid_request_error", nullptr));
    }
    return true;
  }

  void Chat(const httplib::Request& req, httplib::Response& res) {
    json entry = {{"endpoint", "chat"}};
    if (!Intercept("chat", req, res, entry)) ChatAnswer(req, res, entry);
    entry["status"] = res.status;
    Record(std::move(entry));
  }

  void ChatAnswer(const httplib::Request& req, httplib::Response& res, json& entry) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const std::exception& e) {
      SendJson(
          res, 400,
          ErrorBody(std::string("We could not parse the JSON body of your request. ") + e.what(),
                    "invalid_request_error", nullptr));
      return;
    }
    if (!body.is_object() || !body.contains("model") || !body["model"].is_string()) {
      SendJson(res, 400,
               ErrorBody("you must provide a model parameter", "invalid_request_error", nullptr));
      return;
    }
    if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
      SendJson(res, 400,
               ErrorBody("'messages' is a required property", "invalid_request_error", nullptr));
      return;
    }
    entry["model"] = body["model"];
    std::size_t chars = 0;
    std::string user;
    for (const auto& m : body["messages"]) {
      if (!m.is_object() || !m.contains("role") || !m.contains("content") ||
          !m["content"].is_string()) {
        SendJson(res, 400,
                 ErrorBody("Invalid message: role and content are required.",
                           "invalid_request_error", nullptr));
        return;
      }
      chars += m["content"].get_ref<const std::string&>().size();
      if (m["role"] == "user") user = m["content"].get<std::string>();
    }
    const long prompt_tokens = Tokens(chars);
    entry["prompt_tokens"] = prompt_tokens;
    entry["user_chars"] = user.size();
    entry["max_tokens"] = body.value("max_tokens", json(nullptr));
    if (prompt_tokens > options.context_tokens) {
      SendJson(res, 400,
               ErrorBody("This model's maximum context length is " +
                             std::to_string(options.context_tokens) +
                             " tokens. However, your messages resulted in " +
                             std::to_string(prompt_tokens) + " tokens.",
                         "invalid_request_error", "context_length_exceeded"));
      return;
    }
    std::string text = user;
    if (auto open = user.find("<transcript>"); open != std::string::npos) {
      const auto close = user.find("</transcript>", open);
      text = user.substr(open + 12,
                         close == std::string::npos ? std::string::npos : close - open - 12);
    }
    const auto words = Words(text);
    std::ostringstream content;
    content << "Summary of " << words.size() << " words:";
    for (std::size_t i = 0; i < std::min<std::size_t>(12, words.size()); ++i) {
      content << ' ' << words[i];
    }
    content << ".\n\nKey points:\n";
    std::map<std::string, int> freq;
    for (const auto& w : words) {
      auto l = Lower(w);
      if (l.size() >= 5) ++freq[l];
    }
    std::vector<std::pair<std::string, int>> ranked(freq.begin(), freq.end());
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (std::size_t i = 0; i < std::min<std::size_t>(3, ranked.size()); ++i) {
      content << "- " << ranked[i].first << "\n";
    }
    const std::string answer = content.str();
    long completion_tokens = Tokens(answer.size());
    if (body.contains("max_tokens") && body["max_tokens"].is_number_integer()) {
      completion_tokens = std::min<long>(completion_tokens, body["max_tokens"].get<long>());
    }
    long id = 0;
    {
      std::lock_guard lock(mu);
      id = ++counter;
    }
    SendJson(res, 200,
             {{"id", "chatcmpl-stub" + std::to_string(id)},
              {"object", "chat.completion"},
              {"created", static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count())},
              {"model", body["model"]},
              {"choices", json::array({{{"index", 0},
                                        {"message", {{"role", "assistant"}, {"content", answer}}},
                                        {"finish_reason", "stop"}}})},
              {"usage",
               {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}}}});
  }

  void Transcribe(const httplib::Request& req, httplib::Response& res) {
    json entry = {{"endpoint", "transcriptions"}};
    if (!Intercept("transcriptions", req, res, entry)) TranscribeAnswer(req, res, entry);
    entry["status"] = res.status;
    Record(std::move(entry));
  }

  void TranscribeAnswer(const httplib::Request& req, httplib::Response& res, json& entry) {
    if (!req.is_multipart_form_data() || !req.has_file("file")) {
      SendJson(res, 400,
               ErrorBody("Could not parse multipart form", "invalid_request_error", nullptr));
      return;
    }
    const auto file = req.get_file_value("file");
    entry["file_bytes"] = file.content.size();
    entry["filename"] = file.filename;
    if (!req.has_file("model")) {
      SendJson(res, 400,
               ErrorBody("you must provide a model parameter", "invalid_request_error", nullptr));
      return;
    }
    entry["model"] = req.get_file_value("model").content;
    const std::string format =
        req.has_file("response_format") ? req.get_file_value("response_format").content : "json";
    entry["response_format"] = format;
    entry["language"] = req.has_file("language") ? req.get_file_value("language").content : "";
    if (static_cast<long>(file.content.size()) > options.max_file_bytes) {
      SendJson(res, 413,
               ErrorBody("Maximum content size limit (" + std::to_string(options.max_file_bytes) +
                             ") exceeded (" + std::to_string(file.content.size()) + " bytes read)",
                         "server_error", nullptr));
      return;
    }
    std::vector<std::int16_t> samples;
    if (!ParseWav(file.content, samples)) {
      SendJson(res, 400,
               ErrorBody("Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', "
                         "'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']",
                         "invalid_request_error", nullptr));
      return;
    }
    const double duration = static_cast<double>(samples.size()) / 16000.0;
    json segments = json::array();
    std::string text;
    int id = 0;
    for (const auto& r : LoudRegions(samples)) {
      const std::string seg_text =
          " level " + std::to_string(static_cast<int>(std::lround(r.peak / 1000.0)));
      segments.push_back({{"id", id++},
                          {"seek", 0},
                          {"start", std::round(r.start * 100) / 100},
                          {"end", std::round(r.end * 100) / 100},
                          {"text", seg_text},
                          {"tokens", json::array()},
                          {"temperature", 0.0},
                          {"avg_logprob", -0.25},
                          {"compression_ratio", 1.0},
                          {"no_speech_prob", 0.01}});
      text += seg_text;
    }
    if (!text.empty()) text.erase(0, 1);
    if (format == "text") {
      res.status = 200;
      res.set_content(text, "text/plain");
      return;
    }
    if (format == "verbose_json") {
      SendJson(res, 200,
               {{"task", "transcribe"},
                {"language", "english"},
                {"duration", duration},
                {"text", text},
                {"segments", segments}});
      return;
    }
    SendJson(res, 200, {{"text", text}});
  }

  void Routes() {
    server.Post("/v1/chat/completions",
                [this](const httplib::Request& req, httplib::Response& res) { Chat(req, res); });
    server.Post(
        "/v1/audio/transcriptions",
        [this](const httplib::Request& req, httplib::Response& res) { Transcribe(req, res); });
    server.Post("/stub/script", [this](const httplib::Request& req, httplib::Response& res) {
      try {
        const auto body = json::parse(req.body);
        for (const auto& [endpoint, list] : body.items()) {
          std::lock_guard lock(mu);
          for (const auto& r : list) {
            script[endpoint].push_back({r.value("status", 500), r.value("retry_after", -1)});
          }
        }
        SendJson(res, 200, {{"ok", true}});
      } catch (const std::exception& e) {
        SendJson(res, 400, ErrorBody(e.what(), "invalid_request_error", nullptr));
      }
    });
    server.Get("/stub/requests", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu);
      SendJson(res, 200, requests);
    });
    server.Delete("/stub/requests", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu);
      requests = json::array();
      SendJson(res, 200, {{"ok", true}});
    });
    server.set_payload_max_length(256 * 1024 * 1024);
  }
};

OpenAiStub::OpenAiStub(StubOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->Routes();
}

OpenAiStub::~OpenAiStub() { Stop(); }

int OpenAiStub::Start(int port) {
  impl_->port = port == 0 ? impl_->server.bind_to_any_port("127.0.0.1")
                          : (impl_->server.bind_to_port("127.0.0.1", port) ? port : -1);
  if (impl_->port <= 0) return -1;
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  return impl_->port;
}

void OpenAiStub::Stop() {
  if (impl_ && impl_->thread.joinable()) {
    impl_->server.stop();
    impl_->thread.join();
  }
}

std::string OpenAiStub::BaseUrl() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + "/v1";
}

void OpenAiStub::Script(const std::string& endpoint, std::vector<ScriptedReply> replies) {
  std::lock_guard lock(impl_->mu);
  for (auto& r : replies) impl_->script[endpoint].push_back(r);
}

nlohmann::json OpenAiStub::Requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

void OpenAiStub::ClearRequests() {
  std::lock_guard lock(impl_->mu);
  impl_->requests = json::array();
}

bool OpenAiStub::ListenForever(const std::string& host, int port) {
  impl_->port = port;
  return impl_->server.listen(host, port);
}

}  // namespace chansum::stubs
