#include "chansum/summarize/llm.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "chansum/common/strings.hpp"
#include "chansum/openai/client.hpp"

namespace chansum::summarize {
namespace detail {
// Defined in the generated builtin_prompts.cpp; constants, named as such.
// NOLINTBEGIN(readability-identifier-naming)
extern const char* const kBuiltinSystem;
extern const char* const kBuiltinSummarize;
extern const char* const kBuiltinMap;
extern const char* const kBuiltinReduce;
// NOLINTEND(readability-identifier-naming)
}  // namespace detail

namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> SplitWords(std::string_view s) {
  std::vector<std::string> words;
  std::istringstream in{std::string(s)};
  for (std::string w; in >> w;) words.push_back(std::move(w));
  return words;
}

}  // namespace

LlmConfig LlmConfig::FromEnv(ConfigReader& env) {
  LlmConfig c;
  // Required only with SUMMARY_BACKEND=openai (so not through RequireString, which means
  // "always").
  c.api.base_url = env.String("LLM_API_URL", "");
  if (c.api.base_url.empty()) {
    env.AddProblem("LLM_API_URL is required with SUMMARY_BACKEND=openai");
  }
  c.api.api_key = env.String("LLM_API_KEY", "");
  c.model = env.String("LLM_MODEL", c.model);
  c.max_tokens = static_cast<int>(env.Int("LLM_MAX_TOKENS", c.max_tokens, 16, 32768));
  c.chunk_tokens = static_cast<int>(env.Int("LLM_CHUNK_TOKENS", c.chunk_tokens, 200, 1000000));
  c.api.timeout = env.Duration("LLM_TIMEOUT", c.api.timeout);
  c.api.max_retries = static_cast<int>(env.Int("LLM_MAX_RETRIES", c.api.max_retries, 0, 20));
  c.api.max_retry_wait = env.Duration("LLM_MAX_RETRY_WAIT", c.api.max_retry_wait);
  c.prompts_dir = env.String("LLM_PROMPTS_DIR", "");
  return c;
}

Prompts Prompts::Builtin() {
  return {detail::kBuiltinSystem, detail::kBuiltinSummarize, detail::kBuiltinMap,
          detail::kBuiltinReduce};
}

Result<Prompts> Prompts::Load(const std::filesystem::path& dir) {
  Prompts p;
  std::vector<std::string> missing;
  for (auto [name, target] :
       {std::pair{"system.md", &p.system}, std::pair{"summarize.md", &p.summarize},
        std::pair{"map.md", &p.map}, std::pair{"reduce.md", &p.reduce}}) {
    std::ifstream in(dir / name, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    *target = text.str();
    if (Trim(*target).empty()) missing.push_back((dir / name).string());
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    return Error::Permanent("prompts_missing", "prompt templates missing or empty: " + list);
  }
  return p;
}

std::string RenderPrompt(std::string_view tmpl, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(tmpl.size());
  std::size_t pos = 0;
  while (pos < tmpl.size()) {
    const auto open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) break;
    const auto close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(tmpl.substr(pos, open - pos));
    const std::string name = Trim(tmpl.substr(open + 2, close - open - 2));
    if (auto it = values.find(name); it != values.end()) {
      out += it->second;
    } else {
      out.append(tmpl.substr(open, close + 2 - open));
    }
    pos = close + 2;
  }
  out.append(tmpl.substr(pos));
  return out;
}

std::int64_t EstimateTokens(std::string_view text) {
  return static_cast<std::int64_t>((text.size() + 3) / 4);
}

std::vector<std::string> ChunkByTokens(const std::vector<std::string>& sentences,
                                       std::int64_t max_tokens) {
  const std::size_t max_chars = static_cast<std::size_t>(std::max<std::int64_t>(1, max_tokens) * 4);
  std::vector<std::string> chunks;
  std::string current;
  auto add = [&](const std::string& piece) {
    if (!current.empty() && current.size() + 1 + piece.size() > max_chars) {
      chunks.push_back(std::move(current));
      current.clear();
    }
    if (!current.empty()) current += ' ';
    current += piece;
  };
  for (const auto& raw : sentences) {
    const std::string s = Trim(raw);
    if (s.empty()) continue;
    if (s.size() <= max_chars) {
      add(s);
      continue;
    }
    std::string piece;
    for (const auto& w : SplitWords(s)) {
      if (!piece.empty() && piece.size() + 1 + w.size() > max_chars) {
        add(piece);
        piece.clear();
      }
      if (!piece.empty()) piece += ' ';
      piece += w;
    }
    if (!piece.empty()) add(piece);
  }
  if (!current.empty()) chunks.push_back(std::move(current));
  return chunks;
}

Summary ParseAnswer(std::string_view content, int max_key_points) {
  Summary s;
  std::istringstream in{std::string(content)};
  std::string summary;
  bool in_points = false;
  for (std::string line; std::getline(in, line);) {
    std::string t = Trim(line);
    std::string bare = t;
    bare.erase(
        std::remove_if(bare.begin(), bare.end(), [](char c) { return c == '*' || c == '#'; }),
        bare.end());
    bare = AsciiLower(Trim(bare));
    if (!in_points && (bare == "key points:" || bare == "key points")) {
      in_points = true;
      continue;
    }
    if (in_points) {
      std::string point;
      if (t.rfind("- ", 0) == 0 || t.rfind("* ", 0) == 0) {
        point = Trim(t.substr(2));
      } else if (!t.empty() && std::isdigit(static_cast<unsigned char>(t[0]))) {
        const auto dot = t.find_first_of(".)");
        if (dot != std::string::npos && dot <= 3) point = Trim(t.substr(dot + 1));
      }
      if (!point.empty() && static_cast<int>(s.key_points.size()) < max_key_points) {
        s.key_points.push_back(point);
      }
      continue;
    }
    if (t.empty()) {
      if (!summary.empty() && summary.back() != '\n') summary += "\n\n";
      continue;
    }
    if (!summary.empty() && summary.back() != '\n') summary += ' ';
    summary += t;
  }
  s.summary = Trim(summary);
  return s;
}

struct LlmSummarizer::Impl {
  openai::Client client;
  explicit Impl(openai::ClientOptions o) : client(std::move(o)) {}
};

LlmSummarizer::LlmSummarizer(LlmConfig config, Prompts prompts)
    : config_(std::move(config)), prompts_(std::move(prompts)) {
  impl_ = std::make_unique<Impl>(config_.api);
}

LlmSummarizer::~LlmSummarizer() = default;

Result<LlmSummary> LlmSummarizer::Summarize(const std::vector<std::string>& sentences,
                                            const std::string& title, const LlmHooks& hooks) const {
  LlmSummary out;
  std::string model = config_.model;
  // One chat call: the answer's content, with its usage added to `out`.
  auto call = [&](const std::string& user) -> Result<std::string> {
    const std::int64_t estimate =
        EstimateTokens(prompts_.system) + EstimateTokens(user) + config_.max_tokens;
    if (hooks.before_call) {
      if (auto st = hooks.before_call(estimate); !st.ok()) return st.error();
    }
    nlohmann::json body = {{"model", config_.model},
                           {"max_tokens", config_.max_tokens},
                           {"temperature", config_.temperature},
                           {"messages",
                            {{{"role", "system"}, {"content", prompts_.system}},
                             {{"role", "user"}, {"content", user}}}}};
    auto res = impl_->client.PostJson("/chat/completions", body, hooks.should_stop);
    if (!res.ok()) return res.error();
    const auto& doc = *res;
    TokenUsage used;
    used.calls = 1;
    if (doc.contains("usage") && doc["usage"].is_object()) {
      const auto& u = doc["usage"];
      used.prompt_tokens = u.value("prompt_tokens", std::int64_t{0});
      used.completion_tokens = u.value("completion_tokens", std::int64_t{0});
      used.total_tokens = u.value("total_tokens", used.prompt_tokens + used.completion_tokens);
    } else {
      // Some servers omit usage: count what we estimate, so the budget still holds.
      used.prompt_tokens = EstimateTokens(prompts_.system) + EstimateTokens(user);
      used.total_tokens = used.prompt_tokens;
    }
    out.usage += used;
    if (hooks.after_call) {
      if (auto st = hooks.after_call(used); !st.ok()) return st.error();
    }
    if (doc.contains("model") && doc["model"].is_string()) model = doc["model"].get<std::string>();
    std::string content;
    try {
      const auto& c = doc.at("choices").at(0).at("message").at("content");
      if (c.is_string()) content = c.get<std::string>();
    } catch (const std::exception&) {
      return Error::Transient("llm_bad_response",
                              "the chat completion has no choices[0].message.content");
    }
    if (Trim(content).empty()) {
      return Error::Transient("llm_empty_answer", "the model answered with empty content");
    }
    return content;
  };

  const auto chunks = ChunkByTokens(sentences, config_.chunk_tokens);
  if (chunks.empty()) return Error::Permanent("empty_transcript", "empty transcript");
  out.chunks = static_cast<int>(chunks.size());
  const std::string kp = std::to_string(config_.max_key_points);
  std::string final_answer;
  if (chunks.size() == 1) {
    auto answer = call(RenderPrompt(
        prompts_.summarize, {{"title", title}, {"transcript", chunks[0]}, {"max_key_points", kp}}));
    if (!answer.ok()) return answer.error();
    final_answer = std::move(*answer);
  } else {
    // Map: one partial summary per chunk; partials still too long together are summarized in
    // groups (map prompt again) until they fit one reduce call.
    std::vector<std::string> partials;
    std::vector<std::string> inputs = chunks;
    for (int round = 0; round < 8; ++round) {
      partials.clear();
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        auto answer = call(RenderPrompt(prompts_.map, {{"title", title},
                                                       {"part", std::to_string(i + 1)},
                                                       {"parts", std::to_string(inputs.size())},
                                                       {"transcript", inputs[i]}}));
        if (!answer.ok()) return answer.error();
        partials.push_back(Trim(*answer));
      }
      std::string joined;
      for (const auto& p : partials) joined += (joined.empty() ? "" : "\n\n") + p;
      if (EstimateTokens(joined) <= config_.chunk_tokens) break;
      auto regrouped = ChunkByTokens(partials, config_.chunk_tokens);
      if (regrouped.size() >= inputs.size()) {
        return Error::Permanent("llm_no_progress",
                                "partial summaries do not get shorter than the chunks they "
                                "summarize; raise LLM_CHUNK_TOKENS or lower LLM_MAX_TOKENS");
      }
      inputs = std::move(regrouped);
    }
    std::string summaries;
    for (std::size_t i = 0; i < partials.size(); ++i) {
      summaries += (i == 0 ? "" : "\n\n") + ("Part " + std::to_string(i + 1) + ": ") + partials[i];
    }
    auto answer = call(RenderPrompt(prompts_.reduce, {{"title", title},
                                                      {"parts", std::to_string(partials.size())},
                                                      {"summaries", summaries},
                                                      {"max_key_points", kp}}));
    if (!answer.ok()) return answer.error();
    final_answer = std::move(*answer);
  }
  out.summary = ParseAnswer(final_answer, config_.max_key_points);
  if (out.summary.summary.empty()) {
    return Error::Transient("llm_empty_answer", "the model's answer holds no summary text");
  }
  out.summary.engine = "openai";
  out.summary.model = model;
  return out;
}

}  // namespace chansum::summarize
