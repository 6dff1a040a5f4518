#include "src/app.hpp"

int main() { return chansum::orchestrator::Main(); }
