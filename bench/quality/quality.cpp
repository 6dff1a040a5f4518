// chansum-quality [--out docs/quality.md] [--work DIR] [--engines pocketsphinx,whisper]
// Runs the demo corpus (tests/fixtures/demo_channel: generate -> one mp4 per script) through what
// the pipeline does offline: ffmpeg to 16 kHz mono WAV, each embedded ASR engine, the
// embedded extractive summarizer. Reports per video and overall: word error rate of the transcript
// against the spoken script, key-word recall of the transcript and of the summary, peak RSS.
// Writes Markdown to --out (default: stdout only). Measured, never asserted.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chansum/asr/engine.hpp"
#include "chansum/asr/whisper_engine.hpp"
#include "chansum/summarize/summarize.hpp"
#include "chansum/text/readable.hpp"
#include "metrics.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int Run(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// The 1-minute load average (/proc/loadavg), or "?" where it cannot be read.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string first;
  in >> first;
  return first.empty() ? "?" : first;
}

// User + system CPU of the whole process (every thread: CTranslate2 decodes in its own).
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string load_at_start = LoadAverage();
  std::string out_path;
  std::string sentence_pause = "0";
  std::vector<std::string> engine_names;
  fs::path work = fs::temp_directory_path() / ("chansum-quality-" + std::to_string(getpid()));
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--out") {
      out_path = argv[i + 1];
    } else if (flag == "--work") {
      work = argv[i + 1];
    } else if (flag == "--engines") {
      std::stringstream list(argv[i + 1]);
      for (std::string name; std::getline(list, name, ',');) {
        if (!name.empty()) engine_names.push_back(name);
      }
    } else if (flag == "--sentence-pause") {
      // The demo generator's option (what make demo uses): silence after each spoken sentence.
      sentence_pause = argv[i + 1];
    } else {
      std::cerr
          << "usage: chansum-quality [--out FILE] [--work DIR] [--engines pocketsphinx,whisper] "
             "[--sentence-pause SECONDS]\n";
      return 2;
    }
  }
  const fs::path source = CHANSUM_SOURCE_DIR;
  std::ifstream scripts_in(source / "tests/fixtures/demo_channel/scripts.json");
  const json scripts = json::parse(scripts_in).at("videos");
  fs::create_directories(work);
  if (Run({(source / "tests/fixtures/demo_channel/generate").string(), work.string(), "--base-url",
           "http://127.0.0.1:1", "--sentence-pause", sentence_pause}) != 0) {
    std::cerr << "demo channel generation failed\n";
    return 1;
  }
  // Every embedded engine this build has, or the ones --engines names, each with its settings as
  // the transcription service reads them (ASR_MODEL_DIR, ASR_POCKETSPHINX_ARGS,
  // ASR_WHISPER_*), so a setting can be measured before it is deployed.
  if (engine_names.empty()) {
    engine_names.emplace_back("pocketsphinx");
    if (chansum::asr::WhisperEngine::Available()) engine_names.emplace_back("whisper");
  }
  std::vector<fs::path> wavs;
  for (const auto& v : scripts) {
    const auto id = v.at("id").get<std::string>();
    const fs::path mp4 = work / "media" / (id + ".mp4");
    const fs::path wav = work / (id + ".wav");
    if (Run({"ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", mp4.string(), "-vn", "-ar",
             "16000", "-ac", "1", "-c:a", "pcm_s16le", wav.string()}) != 0) {
      std::cerr << id << ": ffmpeg failed\n";
      return 1;
    }
    wavs.push_back(wav);
  }

  std::ostringstream results;
  std::ostringstream tables;
  std::ostringstream samples;
  std::ostringstream settings;
  for (const auto& engine_name : engine_names) {
    // The tool is single-threaded here; the engine reads its settings as the service would.
    ::setenv("ASR_ENGINE", engine_name.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    const auto asr_config = chansum::FromEnvironment<chansum::asr::AsrConfig>();
    auto engine = chansum::asr::MakeEngine(asr_config);
    if (!engine.ok()) {
      std::cerr << engine_name << ": " << engine.error().ToString() << "\n";
      return 1;
    }
    std::string label = engine_name;
    if (engine_name == "pocketsphinx") {
      std::string ps_args;
      for (const auto& a : asr_config.pocketsphinx_args)
        ps_args += (ps_args.empty() ? "" : " ") + a;
      settings << "- pocketsphinx: model `" << asr_config.model_dir.string()
               << "`, `ASR_POCKETSPHINX_ARGS` "
               << (ps_args.empty() ? std::string("not set") : "`" + ps_args + "`") << "\n";
    } else if (engine_name == "whisper") {
      label = "whisper tiny.en";
      settings << "- whisper: model `" << asr_config.whisper_model_dir.string() << "`, "
               << asr_config.whisper_compute_type << " weights, beam " << asr_config.whisper_beam
               << ", " << asr_config.whisper_threads << " thread(s) (`ASR_WHISPER_*`)\n";
    }
    std::ostringstream table;
    table << "| video | script words | WER | S / D / I | WER, numbers as digits | key words in "
             "transcript | key words in summary | key words in summary cut like a long text | "
             "ASR CPU s / audio s |\n"
             "|---|---|---|---|---|---|---|---|---|\n";
    chansum::quality::WordErrors total;
    chansum::quality::WordErrors total_digits;
    double recall_transcript = 0;
    double recall_summary = 0;
    double recall_cut = 0;
    double asr_cpu = 0;
    double asr_wall = 0;
    double audio_seconds = 0;
    int n = 0;
    samples << "\n### " << label << "\n\n";
    for (std::size_t i = 0; i < wavs.size(); ++i) {
      const auto& v = scripts[i];
      const auto id = v.at("id").get<std::string>();
      const double cpu0 = CpuSeconds();
      const auto t0 = std::chrono::steady_clock::now();
      auto transcript = (*engine)(wavs[i], {});
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = CpuSeconds() - cpu0;
      if (!transcript.ok()) {
        std::cerr << engine_name << " " << id << ": " << transcript.error().ToString() << "\n";
        return 1;
      }
      // The summary as the summarization stage makes it (readable sentences); the WER below is
      // computed on the engine's raw words (transcript->text), not on the readable text.
      const auto sentences = chansum::summarize::TranscriptSentences(*transcript);
      auto summary = chansum::summarize::SummarizeExtractive(sentences);
      const std::string summary_text = summary.ok() ? summary->summary : "";
      // The same clip cut to a sentence count like a long transcript (SUMMARY_SHORT_TEXT_WORDS=0):
      // how well the ranking keeps the key words when it has to leave sentences out.
      chansum::summarize::SummarizeOptions cut_options;
      cut_options.short_text_words = 0;
      auto cut = chansum::summarize::SummarizeExtractive(sentences, cut_options);
      const std::string cut_text = cut.ok() ? cut->summary : "";
      std::vector<std::string> key_words = v.at("key_words").get<std::vector<std::string>>();
      const std::string script = v.at("text").get<std::string>();
      const auto ref = chansum::quality::NormalizeWords(script);
      const auto errors =
          chansum::quality::WordErrorRate(ref, chansum::quality::NormalizeWords(transcript->text));
      // The same with spoken numbers written as digits on both sides (libs/text's rule), so
      // "fourteen fifty" and "1450" count alike: Whisper writes digits, the scripts spell out.
      const auto errors_digits = chansum::quality::WordErrorRate(
          chansum::quality::NormalizeWords(chansum::text::SpokenNumbersToDigits(script)),
          chansum::quality::NormalizeWords(chansum::text::SpokenNumbersToDigits(transcript->text)));
      const double rt = chansum::quality::KeyWordRecall(key_words, transcript->text);
      const double rs = chansum::quality::KeyWordRecall(key_words, summary_text);
      const double rc = chansum::quality::KeyWordRecall(key_words, cut_text);
      total += errors;
      total_digits += errors_digits;
      recall_transcript += rt;
      recall_summary += rs;
      recall_cut += rc;
      asr_cpu += cpu;
      asr_wall += wall;
      audio_seconds += transcript->audio_seconds;
      ++n;
      table << "| " << id << " | " << ref.size() << " | " << Fixed(100 * errors.rate(), 1)
            << " % | " << errors.substitutions << " / " << errors.deletions << " / "
            << errors.insertions << " | " << Fixed(100 * errors_digits.rate(), 1) << " % | "
            << Fixed(100 * rt, 0) << " % | " << Fixed(100 * rs, 0) << " % | " << Fixed(100 * rc, 0)
            << " % | " << Fixed(cpu, 2) << " / " << Fixed(transcript->audio_seconds, 1) << " |\n";
      samples << "- **" << id << "**\n  - script: " << script
              << "\n  - transcript: " << transcript->text << "\n  - summary: " << summary_text
              << "\n  - summary cut like a long text: " << cut_text << "\n";
      std::cerr << engine_name << " " << id << ": WER " << Fixed(100 * errors.rate(), 1) << " % ("
                << Fixed(100 * errors_digits.rate(), 1) << " % with digits), key words "
                << Fixed(100 * rt, 0) << " % / " << Fixed(100 * rs, 0) << " %, " << Fixed(cpu, 2)
                << " s CPU\n";
    }
    results << "| " << label << " | " << n << " | " << total.reference_words << " | "
            << Fixed(100 * total.rate(), 1) << " % | " << Fixed(100 * total_digits.rate(), 1)
            << " % | " << Fixed(100 * recall_transcript / n, 0) << " % | "
            << Fixed(100 * recall_summary / n, 0) << " % | " << Fixed(100 * recall_cut / n, 0)
            << " % | " << Fixed(asr_cpu / audio_seconds, 2) << " | "
            << Fixed(audio_seconds / asr_wall, 1) << "x |\n";
    tables << "\n### " << label << "\n\n" << table.str();
  }
  const std::string load_at_end = LoadAverage();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  utsname uts{};
  uname(&uts);
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &utc));
  const std::string commit =
      Capture("git -C '" + source.string() + "' rev-parse --short HEAD 2>/dev/null");

  std::ostringstream md;
  md << "# Quality of the embedded engines (measured)\n\n"
     << "Written by `make quality` (`build/bin/chansum-quality --out docs/quality.md`, source in "
        "`bench/quality/`). The demo corpus (`tests/fixtures/demo_channel/scripts.json`, spoken by "
        "flite's `slt` voice, encoded to mp4 by the demo generator, decoded by ffmpeg to 16 kHz "
        "mono like audio_extraction does) goes through every embedded ASR engine of the build "
        "(pocketsphinx, and Whisper tiny.en when CTranslate2 was found; `--engines a,b` picks) "
        "and the embedded extractive summarizer with their default settings (or the `ASR_*` "
        "settings in "
        "its environment, named below). Nothing here is asserted by a test; only the arithmetic "
        "(`quality_metrics_test`) is.\n\n"
     << "- **Word error rate** (WER) = (substitutions + deletions + insertions) / words of the "
        "script, after lower-casing and dropping punctuation; the corpus figure sums the edits "
        "of all videos over all their script words.\n"
     << "- **Key-word recall** = share of the script's `key_words` that occur as words in the "
        "transcript, resp. in the summary.\n"
     << "- **CPU per audio second** = user + system CPU of the tool's process (all its "
        "threads) during the engine's decode, over the audio's length: comparable between "
        "engines of one run, while the wall-clock speed depends on the machine's load.\n\n"
     << "Run: " << date << ", commit `" << commit << "`, " << uts.sysname << " " << uts.machine
     << ", " << sysconf(_SC_NPROCESSORS_ONLN) << " cores, load average " << load_at_start
     << " at the start and " << load_at_end
     << " at the end; WER and recall do not depend on "
        "load"
     << (sentence_pause == "0" ? std::string()
                               : ", speech pausing " + sentence_pause + " s between sentences")
     << ". Engines and their settings:\n\n"
     << settings.str() << "\n"
     << "## Results\n\n"
     << "| engine | videos | script words | WER | WER, numbers as digits | key words in "
        "transcript | key words in summary | key words in summary cut like a long text | ASR CPU "
        "s per audio s | speed (wall) |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
     << results.str() << "\nPeak RSS of the tool (all engines loaded one after the other): "
     << usage.ru_maxrss / 1024 << " MiB.\n\n"
     << "Per video:\n"
     << tables.str() << "\n## What was said, heard and kept\n"
     << samples.str() << "\n## Reading the figures\n\n"
     << "- The summaries are extractive: they can only contain words the ASR heard, so summary "
        "recall is bounded by transcript recall. Every clip of this corpus is under "
        "`SUMMARY_SHORT_TEXT_WORDS` (60 words), so its summary is its readable transcript less "
        "fragments and repeats, and the summary's recall equals the transcript's. The column "
        "\"cut like a long text\" shows the ranking at work: the same sentences cut to 20 % "
        "(3 to 8 sentences, always fewer than the clip has), which keeps one or two of a clip's "
        "two or three sentences and misses the key words of the others.\n"
     << "- pocketsphinx's general en-us language model mishears rare words and names "
        "(e.g. \"Gutenberg\"); Whisper writes numbers as digits and punctuates, which the plain "
        "WER counts against it on scripts that spell numbers out (\"fourteen fifty\" against "
        "\"1450\" is two errors), hence the column with numbers as digits on both sides.\n";
  // What was tried before (settings, models, engines, each with the figures it gave): kept by
  // hand in bench/quality/tried.md, since a run measures one setting only.
  if (std::ifstream tried(source / "bench/quality/tried.md"); tried) {
    md << "\n" << tried.rdbuf();
  }
  std::cout << md.str();
  if (!out_path.empty()) {
    std::ofstream(out_path) << md.str();
    std::cerr << "wrote " << out_path << "\n";
  }
  std::error_code ec;
  fs::remove_all(work, ec);
  return 0;
}
