#include "chansum/stage/stage.hpp"
#include "src/transcription.hpp"

int main() { return chansum::stage::RunStageService(chansum::transcription::Definition()); }
