# Third-party libraries, all from Debian bookworm packages (see deploy/local/setup).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(GTest REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(CURL REQUIRED)
find_package(LibXml2 REQUIRED)  # libxml2-dev: the Atom feed pre-check (libs/media feed.cpp)
find_package(OpenSSL REQUIRED)  # libcrypto: SHA-256 of migrations
find_package(LibArchive REQUIRED)  # the export's tar archives

pkg_check_modules(RABBITMQ REQUIRED IMPORTED_TARGET librabbitmq)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(MONGOC REQUIRED IMPORTED_TARGET libmongoc-1.0)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(POCKETSPHINX REQUIRED IMPORTED_TARGET pocketsphinx)

# pocketsphinx model directory (Debian's pocketsphinx-en-us)
set(CHANSUM_PS_MODEL_DIR /usr/share/pocketsphinx/model/en-us CACHE PATH "pocketsphinx en-us model")

# The embedded Whisper engine (ASR_ENGINE=whisper): CTranslate2's shared library and headers and
# Whisper tiny.en, installed by deploy/local/whisper (which deploy/local/setup runs) into
# $CHANSUM_TOOLS_DIR/whisper. Built when found there; without it the engine says at start that
# this build lacks it.
if(DEFINED ENV{CHANSUM_WHISPER_DIR})
  set(_chansum_whisper_default "$ENV{CHANSUM_WHISPER_DIR}")
elseif(DEFINED ENV{CHANSUM_TOOLS_DIR})
  set(_chansum_whisper_default "$ENV{CHANSUM_TOOLS_DIR}/whisper")
else()
  set(_chansum_whisper_default "$ENV{HOME}/.cache/chansum/whisper")
endif()
set(CHANSUM_WHISPER_DIR "${_chansum_whisper_default}" CACHE PATH
    "CTranslate2 + Whisper tiny.en installed by deploy/local/whisper")
option(CHANSUM_WITH_WHISPER "build the embedded Whisper engine when CHANSUM_WHISPER_DIR holds it" ON)
set(CHANSUM_HAVE_WHISPER OFF)
if(CHANSUM_WITH_WHISPER AND EXISTS "${CHANSUM_WHISPER_DIR}/.complete")
  file(GLOB _chansum_ct2_so "${CHANSUM_WHISPER_DIR}/lib/libctranslate2-*.so.*")
  list(LENGTH _chansum_ct2_so _chansum_ct2_count)
  if(_chansum_ct2_count EQUAL 1 AND EXISTS "${CHANSUM_WHISPER_DIR}/include/ctranslate2/models/whisper.h")
    add_library(chansum_ctranslate2 SHARED IMPORTED GLOBAL)
    get_filename_component(_chansum_ct2_soname "${_chansum_ct2_so}" NAME)
    # Imported include directories are SYSTEM: CTranslate2's headers are not held to -Werror.
    set_target_properties(chansum_ctranslate2 PROPERTIES
      IMPORTED_LOCATION "${_chansum_ct2_so}"
      IMPORTED_SONAME "${_chansum_ct2_soname}"
      INTERFACE_INCLUDE_DIRECTORIES "${CHANSUM_WHISPER_DIR}/include"
      INTERFACE_LINK_LIBRARIES nlohmann_json::nlohmann_json)
    set(CHANSUM_HAVE_WHISPER ON)
    message(STATUS "Whisper engine: CTranslate2 ${_chansum_ct2_soname} in ${CHANSUM_WHISPER_DIR}")
  else()
    message(WARNING "Whisper engine: ${CHANSUM_WHISPER_DIR} is incomplete; run deploy/local/whisper")
  endif()
else()
  message(STATUS "Whisper engine: not built (no ${CHANSUM_WHISPER_DIR}/.complete; run deploy/local/whisper)")
endif()
