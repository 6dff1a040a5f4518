#include "chansum/common/config.hpp"

#include <gtest/gtest.h>

namespace chansum {
namespace {

TEST(ConfigReaderTest, ReadsTypedValuesAndDefaults) {
  ConfigReader r(std::map<std::string, std::string>{
      {"URL", "postgres://x"}, {"N", "7"}, {"FLAG", "yes"}, {"WAIT", "250ms"}, {"MODE", "b"}});
  EXPECT_EQ(r.RequireString("URL", "database"), "postgres://x");
  EXPECT_EQ(r.Int("N", 1, 0, 10), 7);
  EXPECT_EQ(r.Int("MISSING_N", 3, 0, 10), 3);
  EXPECT_TRUE(r.Bool("FLAG", false));
  EXPECT_EQ(r.Duration("WAIT", std::chrono::seconds(1)), std::chrono::milliseconds(250));
  EXPECT_EQ(r.Choice("MODE", "a", {"a", "b"}), "b");
  EXPECT_NO_THROW(r.Finish());
}

TEST(ConfigReaderTest, ReportsEveryProblemAtOnce) {
  ConfigReader r(std::map<std::string, std::string>{
      {"N", "seven"}, {"BIG", "99"}, {"FLAG", "maybe"}, {"WAIT", "soon"}, {"MODE", "z"}});
  r.RequireString("URL", "database");
  r.Int("N", 1, 0, 10);
  r.Int("BIG", 1, 0, 10);
  r.Bool("FLAG", false);
  r.Duration("WAIT", std::chrono::seconds(1));
  r.Choice("MODE", "a", {"a", "b"});
  try {
    r.Finish();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 6u);
    const std::string what = e.what();
    for (const char* name : {"URL", "N=", "BIG=99", "FLAG=", "WAIT=", "MODE="}) {
      EXPECT_NE(what.find(name), std::string::npos) << name << " missing in: " << what;
    }
  }
}

TEST(ConfigReaderTest, EmptyCountsAsUnset) {
  ConfigReader r(std::map<std::string, std::string>{{"URL", ""}});
  EXPECT_EQ(r.String("URL", "fallback"), "fallback");
  r.RequireString("URL", "database");
  EXPECT_THROW(r.Finish(), ConfigError);
}

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(ParseDuration("5"), std::chrono::milliseconds(5000));
  EXPECT_EQ(ParseDuration("5s"), std::chrono::milliseconds(5000));
  EXPECT_EQ(ParseDuration("2m"), std::chrono::milliseconds(120000));
  EXPECT_EQ(ParseDuration("1h"), std::chrono::milliseconds(3600000));
  EXPECT_EQ(ParseDuration("10ms"), std::chrono::milliseconds(10));
  EXPECT_FALSE(ParseDuration("").has_value());
  EXPECT_FALSE(ParseDuration("x5").has_value());
  EXPECT_FALSE(ParseDuration("5 days").has_value());
}

}  // namespace
}  // namespace chansum
