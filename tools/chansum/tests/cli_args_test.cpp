// Command-line handling that needs no API: help, usage errors and their exit codes.
#include <gtest/gtest.h>

#include <sstream>
#include <tuple>

#include "chansum/cli/cli.hpp"

namespace chansum::cli {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome RunCli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  // Port 1 on loopback: nothing listens, so an API call fails fast as unreachable.
  const int code = Run(args, {{"CHANSUM_API", "http://127.0.0.1:1"}}, out, err, false);
  return {code, out.str(), err.str()};
}

TEST(CliArgs, HelpEverywhere) {
  auto main_help = RunCli({"--help"});
  EXPECT_EQ(main_help.code, kExitOk);
  for (const char* c : {"submit", "watch", "jobs", "show", "transcript", "summary", "retry",
                        "cancel", "subscribe", "subscriptions", "unsubscribe"}) {
    EXPECT_NE(main_help.out.find(c), std::string::npos) << c;
    auto h = RunCli({c, "--help"});
    EXPECT_EQ(h.code, kExitOk) << c;
    EXPECT_EQ(h.out.rfind(std::string("Usage: chansum ") + c, 0), 0u) << h.out;
  }
}

TEST(CliArgs, SubscriptionCommandsCheckTheirArguments) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"subscribe"},
           {"subscribe", "@a", "@b"},
           {"subscribe", "@a", "--max-videos", "ten"},
           {"subscribe", "@a", "--keep-days", "7d"},
           {"subscribe", "@a", "--every"},
           {"subscribe", "@a", "--watch"},
           {"subscriptions", "a", "b"},
           {"unsubscribe"},
       }) {
    auto r = RunCli(args);
    EXPECT_EQ(r.code, kExitUsage) << args[0] << " " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  // Well-formed: they reach the API (unreachable here: exit 4).
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"subscribe", "@a", "--every", "6h", "--since", "2024-01-01", "--keep-days", "30"},
           {"subscriptions"},
           {"subscriptions", "0d9c3a52-6a3e-4f4f-8f0e-2b7d6c5a4e31"},
           {"unsubscribe", "0d9c3a52-6a3e-4f4f-8f0e-2b7d6c5a4e31"},
       }) {
    EXPECT_EQ(RunCli(args).code, kExitUnavailable) << args[0];
  }
}

TEST(CliArgs, UsageErrorsExitTwoWithOneLine) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate"},
                                             {"submit"},
                                             {"submit", "@a", "@b"},
                                             {"submit", "@a", "--max-videos"},
                                             {"submit", "@a", "--bogus"},
                                             {"show", "x", "--watch"},
                                             {"transcript", "v", "--format", "pdf"},
                                             {"summary", "v", "--format=srt"},
                                             {"submit", "@a", "--max-videos", "ten"},
                                             {"jobs", "--watch=yes"}}) {
    auto r = RunCli(args);
    EXPECT_EQ(r.code, kExitUsage) << ::testing::PrintToString(args) << r.err;
    EXPECT_EQ(r.err.rfind("chansum: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(CliArgs, UnreachableApiExitsFour) {
  auto r = RunCli({"jobs"});
  EXPECT_EQ(r.code, kExitUnavailable);
  EXPECT_NE(r.err.find("cannot reach the API at http://127.0.0.1:1"), std::string::npos) << r.err;
}

// Without --api or CHANSUM_API the CLI talks to the local deployment `make demo` starts.
TEST(CliArgs, DefaultApiIsTheLocalDeployment) {
  EXPECT_EQ(DefaultApiUrl({}), "http://127.0.0.1:28080");
  EXPECT_EQ(DefaultApiUrl({{"CHANSUM_API_PORT", "29080"}}), "http://127.0.0.1:29080");

  std::ostringstream out, err;
  ASSERT_EQ(cli::Run({"--help"}, {}, out, err, false), kExitOk);
  EXPECT_NE(out.str().find("default http://127.0.0.1:28080"), std::string::npos) << out.str();

  // CHANSUM_API_PORT alone moves the default; CHANSUM_API and --api win over it.
  for (const auto& [env, args, expected] :
       std::vector<std::tuple<Environment, std::vector<std::string>, std::string>>{
           {{{"CHANSUM_API_PORT", "1"}}, {"jobs"}, "http://127.0.0.1:1"},
           {{{"CHANSUM_API_PORT", "28080"}, {"CHANSUM_API", "http://127.0.0.1:2"}},
            {"jobs"},
            "http://127.0.0.1:2"},
           {{{"CHANSUM_API", "http://127.0.0.1:2"}},
            {"--api", "http://127.0.0.1:3", "jobs"},
            "http://127.0.0.1:3"}}) {
    std::ostringstream o, e;
    EXPECT_EQ(cli::Run(args, env, o, e, false), kExitUnavailable) << e.str();
    EXPECT_NE(e.str().find("cannot reach the API at " + expected + ":"), std::string::npos)
        << e.str();
  }
}

}  // namespace
}  // namespace chansum::cli
