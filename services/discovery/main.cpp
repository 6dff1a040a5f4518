#include "chansum/stage/stage.hpp"
#include "src/discovery.hpp"

int main() { return chansum::stage::RunStageService(chansum::discovery::Definition()); }
