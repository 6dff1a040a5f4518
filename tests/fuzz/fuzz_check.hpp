#pragma once
// A property a fuzz target checks on every input; a violation aborts, which libFuzzer reports as
// a crash and saves the input (crash-<sha1>) for a regression test.
#include <cstdio>
#include <cstdlib>

#define CHANSUM_FUZZ_CHECK(cond)                                                                \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "fuzz property violated at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)
