#pragma once
// Prometheus metrics: counters, gauges and histograms with labels, and a registry that renders the
// text exposition format 0.0.4 (what GET /metrics serves).
//
// Hot path: look a child up once (`family.Labels({"download"})` returns a reference that stays
// valid for the registry's lifetime) and keep it; Inc/Set/Observe are then lock-free atomics.
// Looking a child up takes the family's mutex. Rendering takes each family's mutex briefly.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace chansum::metrics {

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

class Counter {
 public:
  void Inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  [[nodiscard]] double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Dec(double v = 1.0) { value_.fetch_sub(v, std::memory_order_relaxed); }
  [[nodiscard]] double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: upper bounds of the buckets, ascending (+Inf is implicit).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  [[nodiscard]] std::uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] double Sum() const { return sum_.load(std::memory_order_relaxed); }
  [[nodiscard]] const std::vector<double>& Bounds() const { return bounds_; }
  // Observations in bucket i alone: (Bounds()[i-1], Bounds()[i]]; i == Bounds().size(): above
  // the last bound.
  [[nodiscard]] std::uint64_t BucketCount(std::size_t i) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bucket, not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

// Bucket bounds for durations in seconds: 5 ms .. 10 min.
[[nodiscard]] std::vector<double> DurationBuckets();
// Bucket bounds for HTTP latencies in seconds: 1 ms .. 10 s.
[[nodiscard]] std::vector<double> LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

// One metric name with its label names; children are created on first use of a label-value set.
template <class T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  // The child for these label values (as many as label names; throws std::invalid_argument
  // otherwise). The reference stays valid as long as the family.
  T& Labels(const std::vector<std::string>& values) {
    if (values.size() != label_names_.size()) {
      throw std::invalid_argument("metric " + name_ + ": wrong number of label values");
    }
    std::lock_guard lock(mu_);
    auto& child = children_[values];
    if (!child) child = make_();
    return *child;
  }

  [[nodiscard]] const std::string& Name() const { return name_; }
  [[nodiscard]] const std::string& Help() const { return help_; }
  [[nodiscard]] const std::vector<std::string>& LabelNames() const { return label_names_; }

  // Calls f(label_values, child) for every child, in label order, under the family's lock.
  template <class F>
  void ForEach(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& [values, child] : children_) f(values, *child);
  }

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<T>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

class Registry {
 public:
  // The process-wide registry every service's /metrics renders.
  static Registry& Default();

  // Registering a name twice returns the first family (same type and labels required, else
  // std::invalid_argument), so independent parts of a process can ask for the same metric.
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);

  // A callback run before every Render (e.g. to set a gauge from a database count). Returns an id
  // for RemoveCollector (call it before anything the callback uses goes away).
  int AddCollector(std::function<void()> collect);
  void RemoveCollector(int id);

  // The text exposition format 0.0.4, families in name order.
  [[nodiscard]] std::string Render();

 private:
  struct Entry {
    Type type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  Entry& Find(const std::string& name, Type type, const std::vector<std::string>& labels);

  std::mutex mu_;
  std::map<std::string, Entry> families_;
  std::mutex collectors_mu_;  // held while collectors run: one scrape collects at a time
  std::map<int, std::function<void()>> collectors_;
  int next_collector_ = 1;
};

// Reads a text-format exposition back into {"name{a=\"x\"}": value} (series exactly as rendered,
// comments skipped): what tests and tools that scrape a /metrics endpoint need.
[[nodiscard]] std::map<std::string, double> ParseText(const std::string& text);

// Formatting helpers (exposed for tests).
[[nodiscard]] std::string FormatValue(double v);                   // 3, 0.25, +Inf, -Inf, NaN
[[nodiscard]] std::string EscapeLabelValue(const std::string& v);  // \\ \" \n
[[nodiscard]] std::string EscapeHelp(const std::string& v);        // \\ \n

}  // namespace chansum::metrics
