#include "src/service.hpp"

int main() { return chansum::analytics::Main(); }
