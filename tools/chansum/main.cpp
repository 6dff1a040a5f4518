#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "chansum/cli/cli.hpp"

int main(int argc, char** argv) {
  chansum::cli::Environment env;
  for (const char* key : {"CHANSUM_API", "CHANSUM_API_PORT", "CHANSUM_TOKEN"}) {
    if (const char* v = std::getenv(key)) env[key] = v;
  }
  return chansum::cli::Run(std::vector<std::string>(argv + 1, argv + argc), env, std::cout,
                           std::cerr, ::isatty(STDOUT_FILENO) == 1);
}
