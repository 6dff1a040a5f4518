#pragma once
// One /readyz check of a dependency as a component: an http::DependencyCheck (its own thread, a
// round trip every interval; /readyz only reads the last answer) from Start to Stop.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chansum/http/readiness.hpp"
#include "chansum/service/service.hpp"

namespace chansum::service {

class DependencyCheckComponent : public Component {
 public:
  DependencyCheckComponent(std::string name, http::DependencyCheck::Check check,
                           http::DependencyCheckOptions options = {})
      : name_(std::move(name)), check_(std::move(check)), options_(options) {}

  [[nodiscard]] const std::string& Name() const override { return name_; }
  Status Start() override {
    running_.emplace(name_, check_, options_);
    return OkStatus();
  }
  bool Stop(Clock::time_point /*deadline*/) override {
    running_.reset();
    return true;
  }
  // The last answer (http::DependencyCheck::Last); a failure while stopped.
  [[nodiscard]] Status Last() const {
    return running_ ? running_->Last()
                    : Status(Error::Transient("stopped", name_ + " not checked"));
  }
  // {name: the last answer}; none while stopped.
  [[nodiscard]] std::vector<std::pair<std::string, Status>> Checks() const override {
    if (!running_) return {};
    return {{name_, running_->Last()}};
  }

 private:
  const std::string name_;
  const http::DependencyCheck::Check check_;
  const http::DependencyCheckOptions options_;
  std::optional<http::DependencyCheck> running_;
};

}  // namespace chansum::service
