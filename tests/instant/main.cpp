// chansum_instant_stage <stage>: a stage service (the real runner, same environment as the real
// services) with instant-media handlers. See include/chansum/instant/instant.hpp.
#include <iostream>

#include "chansum/instant/instant.hpp"

int main(int argc, char** argv) {
  const auto stage = argc == 2 ? chansum::protocol::StageFromName(argv[1]) : std::nullopt;
  if (!stage) {
    std::cerr << "usage: chansum_instant_stage "
                 "discovery|download|audio_extraction|transcription|summarization\n";
    return 2;
  }
  return chansum::stage::RunStageService(chansum::instant::Definition(*stage));
}
