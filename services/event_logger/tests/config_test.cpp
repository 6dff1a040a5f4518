#include <gtest/gtest.h>

#include "src/event_logger.hpp"

namespace chansum::event_logger {
namespace {

TEST(EventLoggerConfigTest, DefaultsAndNames) {
  ConfigReader env(std::map<std::string, std::string>{{"AMQP_URL", "amqp://u:p@127.0.0.1:5/"},
                                                      {"QUEUE_PREFIX", "t1."}});
  const auto c = EventLoggerConfig::FromEnv(env);
  EXPECT_NO_THROW(env.Finish());
  EXPECT_EQ(c.Exchange(), "t1.events");
  EXPECT_EQ(c.Queue(), "t1.events.audit");
  EXPECT_EQ(c.DeadLetterQueue(), "t1.events.audit.dlq");
  EXPECT_EQ(c.audit_dir, "/var/lib/chansum/audit");
  EXPECT_EQ(c.max_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(c.keep, 10);
  EXPECT_EQ(c.prefetch, 100);
  EXPECT_EQ(c.batch_window, std::chrono::milliseconds(100));
  EXPECT_EQ(c.health_port, 0);
}

TEST(EventLoggerConfigTest, ReportsAllProblemsAtOnce) {
  ConfigReader env(std::map<std::string, std::string>{{"AUDIT_LOG_KEEP", "0"},
                                                      {"AUDIT_LOG_MAX_BYTES", "lots"},
                                                      {"EVENT_LOGGER_PREFETCH", "70000"},
                                                      {"HEALTH_PORT", "-1"}});
  (void)EventLoggerConfig::FromEnv(env);
  try {
    env.Finish();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string all = e.what();
    EXPECT_EQ(e.problems().size(), 5u) << all;
    for (const char* name : {"AMQP_URL", "AUDIT_LOG_KEEP", "AUDIT_LOG_MAX_BYTES",
                             "EVENT_LOGGER_PREFETCH", "HEALTH_PORT"}) {
      EXPECT_NE(all.find(name), std::string::npos) << name << " missing in: " << all;
    }
  }
}

}  // namespace
}  // namespace chansum::event_logger
