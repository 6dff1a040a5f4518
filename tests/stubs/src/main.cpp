// chansum_openai_stub [--port N] [--host H] [--api-key K] [--context-tokens N]
//                     [--max-file-bytes N]
// Serves OpenAiStub (see chansum/stubs/openai_stub.hpp) until killed. Test use only.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "chansum/stubs/openai_stub.hpp"

int main(int argc, char** argv) {
  chansum::stubs::StubOptions options;
  std::string host = "127.0.0.1";
  int port = 28090;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--port") {
      port = std::atoi(value.c_str());
    } else if (flag == "--host") {
      host = value;
    } else if (flag == "--api-key") {
      options.api_key = value;
    } else if (flag == "--context-tokens") {
      options.context_tokens = std::atol(value.c_str());
    } else if (flag == "--max-file-bytes") {
      options.max_file_bytes = std::atol(value.c_str());
    } else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  chansum::stubs::OpenAiStub stub(options);
  std::fprintf(stderr, "chansum_openai_stub listening on %s:%d\n", host.c_str(), port);
  return stub.ListenForever(host, port) ? 0 : 1;
}
