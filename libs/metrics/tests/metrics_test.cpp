#include "chansum/metrics/metrics.hpp"

#include <cmath>
#include <thread>

#include <gtest/gtest.h>

namespace chansum::metrics {
namespace {

TEST(FormatValue, IntegersFractionsAndSpecials) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(Escaping, LabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelp("say \"x\"\\\n"), "say \"x\"\\\\\\n");
}

TEST(Registry, RendersCountersAndGaugesWithLabels) {
  Registry r;
  auto& consumed =
      r.AddCounter("chansum_messages_consumed_total", "Deliveries received.", {"stage"});
  consumed.Labels({"download"}).Inc();
  consumed.Labels({"download"}).Inc(2);
  consumed.Labels({"audio \"x\""}).Inc();
  r.AddGauge("chansum_in_flight", "Work in progress.").Labels({}).Set(3);
  EXPECT_EQ(r.Render(),
            "# HELP chansum_in_flight Work in progress.\n"
            "# TYPE chansum_in_flight gauge\n"
            "chansum_in_flight 3\n"
            "# HELP chansum_messages_consumed_total Deliveries received.\n"
            "# TYPE chansum_messages_consumed_total counter\n"
            "chansum_messages_consumed_total{stage=\"audio \\\"x\\\"\"} 1\n"
            "chansum_messages_consumed_total{stage=\"download\"} 3\n");
}

TEST(Registry, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.AddHistogram("d_seconds", "Durations.", {"stage"}, {0.1, 1, 10});
  auto& child = h.Labels({"t"});
  child.Observe(0.05);
  child.Observe(0.1);  // le is inclusive
  child.Observe(0.5);
  child.Observe(20);
  EXPECT_EQ(r.Render(),
            "# HELP d_seconds Durations.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{stage=\"t\",le=\"0.1\"} 2\n"
            "d_seconds_bucket{stage=\"t\",le=\"1\"} 3\n"
            "d_seconds_bucket{stage=\"t\",le=\"10\"} 3\n"
            "d_seconds_bucket{stage=\"t\",le=\"+Inf\"} 4\n"
            "d_seconds_sum{stage=\"t\"} 20.65\n"
            "d_seconds_count{stage=\"t\"} 4\n");
}

TEST(Registry, UnlabelledHistogramPutsOnlyLeInBraces) {
  Registry r;
  r.AddHistogram("h", "x", {}, {1}).Labels({}).Observe(2);
  const std::string text = r.Render();
  EXPECT_NE(text.find("h_bucket{le=\"1\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_sum 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_count 1\n"), std::string::npos) << text;
}

TEST(Registry, SameNameReturnsSameFamilyAndConflictsThrow) {
  Registry r;
  auto& a = r.AddCounter("c_total", "x", {"a"});
  auto& b = r.AddCounter("c_total", "x", {"a"});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(r.AddGauge("c_total", "x", {"a"}), std::invalid_argument);
  EXPECT_THROW(r.AddCounter("c_total", "x", {"b"}), std::invalid_argument);
  EXPECT_THROW(r.AddCounter("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(r.AddCounter("ok", "x", {"le"}), std::invalid_argument);
  EXPECT_THROW(a.Labels({"1", "2"}), std::invalid_argument);
}

TEST(Registry, CollectorsRunBeforeRenderUntilRemoved) {
  Registry r;
  auto& g = r.AddGauge("backlog", "x").Labels({});
  int calls = 0;
  const int id = r.AddCollector([&] { g.Set(++calls * 10); });
  EXPECT_NE(r.Render().find("backlog 10\n"), std::string::npos);
  EXPECT_NE(r.Render().find("backlog 20\n"), std::string::npos);
  r.RemoveCollector(id);
  EXPECT_NE(r.Render().find("backlog 20\n"), std::string::npos);
  EXPECT_EQ(calls, 2);
}

TEST(Registry, ConcurrentIncrementsAreNotLost) {
  Registry r;
  auto& fam = r.AddCounter("n_total", "x", {"t"});
  auto& hist = r.AddHistogram("h_seconds", "x", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        fam.Labels({"a"}).Inc();
        hist.Labels({}).Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fam.Labels({"a"}).Value(), 40000);
  EXPECT_EQ(hist.Labels({}).Count(), 40000u);
  EXPECT_NE(r.Render().find("h_seconds_bucket{le=\"1\"} 40000\n"), std::string::npos);
}

TEST(ParseText, ReadsBackWhatRenderWrote) {
  Registry r;
  r.AddCounter("a_total", "x", {"k"}).Labels({"v \"q\""}).Inc(5);
  r.AddHistogram("h", "x", {}, {1}).Labels({}).Observe(0.5);
  const auto samples = ParseText(r.Render());
  EXPECT_EQ(samples.at("a_total{k=\"v \\\"q\\\"\"}"), 5);
  EXPECT_EQ(samples.at("h_bucket{le=\"+Inf\"}"), 1);
  EXPECT_EQ(samples.at("h_sum"), 0.5);
  EXPECT_EQ(samples.size(), 5u);
}

}  // namespace
}  // namespace chansum::metrics
