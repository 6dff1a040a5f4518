#include "chansum/stage/stage.hpp"
#include "src/summarization.hpp"

int main() { return chansum::stage::RunStageService(chansum::summarization::Definition()); }
