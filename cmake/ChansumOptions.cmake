# Shared build options: C++20, warnings as errors, sanitizer preset, helpers for libraries and tests.
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

# ccache, when installed, makes rebuilds in several build directories or checkouts cheap (a
# developer convenience; CI builds the same without it).
find_program(CHANSUM_CCACHE ccache)
if(CHANSUM_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CHANSUM_CCACHE})
endif()

option(CHANSUM_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)

# Debug information. Full -g made the normal build 2.9 GB and the ASan build ran a CI machine out of
# disk; by default the builds carry line tables only (-g1: function names, files and lines — what
# stack traces, ASan reports and perf need), zlib-compressed (-gz): about a sixth of the size.
# -DCHANSUM_FULL_DEBUG_INFO=ON restores -g for a debugger session with variables.
option(CHANSUM_FULL_DEBUG_INFO "Full debug information (-g) instead of compressed line tables" OFF)
if(NOT CHANSUM_FULL_DEBUG_INFO)
  foreach(lang C CXX)
    foreach(cfg DEBUG RELWITHDEBINFO)
      string(REGEX REPLACE "(^| )-g( |$)" "\\1-g1 -gz\\2" CMAKE_${lang}_FLAGS_${cfg}
                           "${CMAKE_${lang}_FLAGS_${cfg}}")
    endforeach()
  endforeach()
  add_link_options($<$<CONFIG:Debug,RelWithDebInfo>:-gz>)
endif()

add_library(chansum_warnings INTERFACE)
target_compile_options(chansum_warnings INTERFACE -Wall -Wextra -Werror -Wpedantic -Wshadow
                                                  -Wnon-virtual-dtor -Wcast-align -Wunused)

# Fuzz build (clang only): instruments everything for libFuzzer with ASan+UBSan and builds only
# the libraries the targets in tests/fuzz need, plus those targets; no GoogleTest binaries.
option(CHANSUM_FUZZ "Build only the libFuzzer targets (tests/fuzz), with clang" OFF)
if(CHANSUM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CHANSUM_FUZZ needs clang: -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(CHANSUM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# chansum_library(<name> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
# Defines target chansum_<name> with alias chansum::<name>; headers under include/chansum/<name>/.
function(chansum_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  # Shared in the sanitizer build: ASan+UBSan code is large (~100 MB per statically linked test
  # binary) and every test binary would carry its own copy of the libraries it uses.
  if(CHANSUM_SANITIZE)
    add_library(chansum_${name} SHARED ${ARG_SOURCES})
  else()
    add_library(chansum_${name} STATIC ${ARG_SOURCES})
  endif()
  add_library(chansum::${name} ALIAS chansum_${name})
  target_include_directories(chansum_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(chansum_${name} PUBLIC ${ARG_DEPS} PRIVATE chansum_warnings ${ARG_PRIVATE_DEPS})
endfunction()

# chansum_test(<name> LABEL unit|integration|e2e|chaos [TIMEOUT s] [SERIAL] SOURCES ... DEPS ...)
# One GoogleTest binary; each TEST becomes a ctest entry carrying the label. SERIAL: its tests
# never run at the same time as any other test.
function(chansum_test name)
  cmake_parse_arguments(ARG "SERIAL" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_LABEL)
    message(FATAL_ERROR "chansum_test(${name}): LABEL is required")
  endif()
  if(CHANSUM_FUZZ)
    # The fuzz build runs only fuzz targets: the test binary exists (so the folder's CMakeLists
    # can set its properties) but is never built or registered.
    add_executable(${name} EXCLUDE_FROM_ALL ${ARG_SOURCES})
    return()
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  # The sanitizer build runs the unit and integration labels (deploy/local/run-tests); its e2e and
  # chaos binaries are built only on request (`cmake --build build-asan --target <name>`).
  set(on_request "")
  if(CHANSUM_SANITIZE AND ARG_LABEL MATCHES "^(e2e|chaos)$")
    set(on_request EXCLUDE_FROM_ALL)
  endif()
  add_executable(${name} ${on_request} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main chansum_warnings)
  if(on_request)
    return()
  endif()
  set(serial FALSE)
  if(ARG_SERIAL)
    set(serial TRUE)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 30
                       PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT} RUN_SERIAL ${serial})
endfunction()

# chansum_executable(<name> SOURCES ... DEPS ...)
function(chansum_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} chansum_warnings)
endfunction()

# All executables (services, tools, tests) land in <build>/bin.
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
