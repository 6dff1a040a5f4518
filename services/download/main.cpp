#include "chansum/stage/stage.hpp"
#include "src/download.hpp"

int main() { return chansum::stage::RunStageService(chansum::download::Definition()); }
