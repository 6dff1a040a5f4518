// chansum-asr [--engines N] <file.wav>...
// Transcribes 16 kHz mono 16-bit WAV files with the engine ASR_ENGINE names (the embedded
// pocketsphinx by default, or whisper, or openai) and prints one
// JSON transcript per file on stdout; load time, resident memory and decode speed go to stderr.
// --engines N loads N engines (one per would-be worker thread) to measure memory per engine.
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "chansum/asr/engine.hpp"

namespace {

long RssKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  int engines = 1;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--engines" && i + 1 < argc) {
      engines = std::max(1, std::stoi(argv[++i]));
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty() && engines == 1) {
    std::cerr << "usage: chansum-asr [--engines N] <file.wav>...\n";
    return 2;
  }
  try {
    const auto config = chansum::FromEnvironment<chansum::asr::AsrConfig>();
    const long rss0 = RssKib();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<chansum::asr::TranscribeFn> loaded;
    for (int i = 0; i < engines; ++i) {
      auto engine = chansum::asr::MakeEngine(config);
      if (!engine.ok()) {
        std::cerr << "chansum-asr: " << engine.error().ToString() << "\n";
        return 1;
      }
      loaded.push_back(std::move(*engine));
    }
    const auto t1 = std::chrono::steady_clock::now();
    const long rss1 = RssKib();
    std::cerr << "loaded " << engines << " engine(s) in " << Seconds(t1 - t0) << " s; RSS "
              << rss0 / 1024 << " -> " << rss1 / 1024 << " MiB ("
              << static_cast<double>(rss1 - rss0) / 1024.0 / engines << " MiB per engine)\n";
    int failures = 0;
    for (const auto& file : files) {
      const auto start = std::chrono::steady_clock::now();
      const std::clock_t cpu_start = std::clock();
      auto t = loaded.front()(file, {});
      const double took = Seconds(std::chrono::steady_clock::now() - start);
      const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
      if (!t.ok()) {
        std::cerr << file << ": " << t.error().ToString() << "\n";
        ++failures;
        continue;
      }
      std::cout << chansum::asr::ToJson(*t).dump() << "\n";
      std::cerr << file << ": " << t->audio_seconds << " s of audio decoded in " << took
                << " s wall, " << cpu << " s CPU (" << (cpu > 0 ? t->audio_seconds / cpu : 0)
                << "x real time per busy core), " << t->segments.size() << " segments; RSS now "
                << RssKib() / 1024 << " MiB\n";
    }
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "chansum-asr: " << e.what() << "\n";
    return 1;
  }
}
