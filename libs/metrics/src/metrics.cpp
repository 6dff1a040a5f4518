#include "chansum/metrics/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace chansum::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end())) {
    throw std::invalid_argument("histogram bucket bounds must ascend");
  }
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);  // first bound >= v
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t Histogram::BucketCount(std::size_t i) const {
  return i <= bounds_.size() ? buckets_[i].load(std::memory_order_relaxed) : 0;
}

std::vector<double> DurationBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  // Shortest representation that round-trips.
  for (int precision = 1; precision <= 17; ++precision) {
    char shorter[64];
    std::snprintf(shorter, sizeof(shorter), "%.*g", precision, v);
    if (std::strtod(shorter, nullptr) == v) return shorter;
  }
  return buf;
}

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

bool ValidName(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// {a="x",b="y"} (empty when there are no labels); `extra` is appended (e.g. le="0.5").
std::string LabelText(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      const std::string& extra = {}) {
  if (names.empty() && extra.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    out += extra;
  }
  out += '}';
  return out;
}

template <class T>
void Header(std::string& out, const Family<T>& f, const char* type) {
  out += "# HELP " + f.Name() + " " + EscapeHelp(f.Help()) + "\n";
  out += "# TYPE " + f.Name() + " " + type + "\n";
}

}  // namespace

Registry& Registry::Default() {
  static Registry* registry = new Registry();  // never destroyed: used until the process exits
  return *registry;
}

Registry::Entry& Registry::Find(const std::string& name, Type type,
                                const std::vector<std::string>& labels) {
  if (!ValidName(name)) throw std::invalid_argument("invalid metric name: " + name);
  for (const auto& l : labels) {
    if (!ValidName(l) || l == "le") throw std::invalid_argument("invalid label name: " + l);
  }
  auto it = families_.find(name);
  if (it == families_.end()) {
    Entry e;
    e.type = type;
    return families_.emplace(name, std::move(e)).first->second;
  }
  if (it->second.type != type) {
    throw std::invalid_argument("metric " + name + " registered with another type");
  }
  return it->second;
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  Entry& e = Find(name, Type::kCounter, label_names);
  if (!e.counter) {
    e.counter = std::make_unique<Family<Counter>>(name, help, std::move(label_names),
                                                  [] { return std::make_unique<Counter>(); });
  } else if (e.counter->LabelNames() != label_names) {
    throw std::invalid_argument("metric " + name + " registered with other labels");
  }
  return *e.counter;
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  Entry& e = Find(name, Type::kGauge, label_names);
  if (!e.gauge) {
    e.gauge = std::make_unique<Family<Gauge>>(name, help, std::move(label_names),
                                              [] { return std::make_unique<Gauge>(); });
  } else if (e.gauge->LabelNames() != label_names) {
    throw std::invalid_argument("metric " + name + " registered with other labels");
  }
  return *e.gauge;
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Entry& e = Find(name, Type::kHistogram, label_names);
  if (!e.histogram) {
    if (!std::is_sorted(bounds.begin(), bounds.end())) {
      throw std::invalid_argument("histogram bucket bounds must ascend");
    }
    e.histogram = std::make_unique<Family<Histogram>>(name, help, std::move(label_names), [bounds] {
      return std::make_unique<Histogram>(bounds);
    });
  } else if (e.histogram->LabelNames() != label_names) {
    throw std::invalid_argument("metric " + name + " registered with other labels");
  }
  return *e.histogram;
}

int Registry::AddCollector(std::function<void()> collect) {
  std::lock_guard lock(collectors_mu_);
  const int id = next_collector_++;
  collectors_.emplace(id, std::move(collect));
  return id;
}

void Registry::RemoveCollector(int id) {
  std::lock_guard lock(collectors_mu_);
  collectors_.erase(id);
}

std::string Registry::Render() {
  {
    std::lock_guard lock(collectors_mu_);
    for (auto& [id, collect] : collectors_) collect();
  }
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& [name, e] : families_) {
    if (e.counter) {
      Header(out, *e.counter, "counter");
      e.counter->ForEach([&](const std::vector<std::string>& values, const Counter& c) {
        out +=
            name + LabelText(e.counter->LabelNames(), values) + " " + FormatValue(c.Value()) + "\n";
      });
    } else if (e.gauge) {
      Header(out, *e.gauge, "gauge");
      e.gauge->ForEach([&](const std::vector<std::string>& values, const Gauge& g) {
        out +=
            name + LabelText(e.gauge->LabelNames(), values) + " " + FormatValue(g.Value()) + "\n";
      });
    } else if (e.histogram) {
      Header(out, *e.histogram, "histogram");
      const auto& labels = e.histogram->LabelNames();
      e.histogram->ForEach([&](const std::vector<std::string>& values, const Histogram& h) {
        // Read the buckets once; count is the +Inf bucket so the series stays consistent.
        std::uint64_t cumulative = 0;
        std::vector<std::uint64_t> cum;
        for (std::size_t i = 0; i <= h.Bounds().size(); ++i) {
          cumulative += h.BucketCount(i);
          cum.push_back(cumulative);
        }
        for (std::size_t i = 0; i < h.Bounds().size(); ++i) {
          out += name + "_bucket" +
                 LabelText(labels, values, "le=\"" + FormatValue(h.Bounds()[i]) + "\"") + " " +
                 std::to_string(cum[i]) + "\n";
        }
        out += name + "_bucket" + LabelText(labels, values, "le=\"+Inf\"") + " " +
               std::to_string(cum.back()) + "\n";
        out += name + "_sum" + LabelText(labels, values) + " " + FormatValue(h.Sum()) + "\n";
        out +=
            name + "_count" + LabelText(labels, values) + " " + std::to_string(cum.back()) + "\n";
      });
    }
  }
  return out;
}

std::map<std::string, double> ParseText(const std::string& text) {
  std::map<std::string, double> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const std::size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    const std::string value = line.substr(space + 1);
    double v = 0;
    if (value == "+Inf") {
      v = HUGE_VAL;
    } else if (value == "-Inf") {
      v = -HUGE_VAL;
    } else if (value == "NaN") {
      v = std::nan("");
    } else {
      v = std::strtod(value.c_str(), nullptr);
    }
    out[line.substr(0, space)] = v;
  }
  return out;
}

}  // namespace chansum::metrics
