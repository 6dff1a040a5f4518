#include "chansum/http/exposure.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

namespace chansum::http {
namespace {

TEST(ExposureTest, LoopbackAddresses) {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"}) {
    EXPECT_TRUE(IsLoopbackAddress(a)) << a;
  }
  for (const char* a : {"0.0.0.0", "::", "", "10.0.0.5", "127.0.0.1.example.com", "127.0.0",
                        "127..0.1", "1127.0.0.1", "example.com", "127.0.0.1 "}) {
    EXPECT_FALSE(IsLoopbackAddress(a)) << a;
  }
}

TEST(ExposureTest, WarnsOnlyForAnExposedUnauthenticatedAddress) {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  auto logger =
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  spdlog::set_default_logger(logger);
  EXPECT_FALSE(WarnIfExposed("HTTP_ADDR", "127.0.0.1", "the API", false));
  EXPECT_FALSE(WarnIfExposed("HTTP_ADDR", "0.0.0.0", "the API", true));
  EXPECT_TRUE(out.str().empty()) << out.str();
  EXPECT_TRUE(WarnIfExposed("HEALTH_ADDR", "0.0.0.0", "health endpoints", false));
  spdlog::set_default_logger(previous);
  EXPECT_NE(out.str().find("HEALTH_ADDR=0.0.0.0 serves health endpoints beyond this host"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("warning"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace chansum::http
