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
