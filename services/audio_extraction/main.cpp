#include "chansum/stage/stage.hpp"
#include "src/audio_extraction.hpp"

int main() { return chansum::stage::RunStageService(chansum::audio_extraction::Definition()); }
