#include "src/backfill.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include <spdlog/spdlog.h>

namespace chansum::event_logger {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

constexpr milliseconds kMaxRetryDelay{30000};
constexpr std::chrono::minutes kWarningEvery{1};

}  // namespace

KafkaBackfill::KafkaBackfill(BackfillConfig config) : config_(std::move(config)) {}

KafkaBackfill::~KafkaBackfill() {
  if (consumer_) (void)consumer_->Close();
}

void KafkaBackfill::Trouble(const std::string& what) {
  const auto now = SteadyClock::now();
  if (now < next_warning_) return;
  next_warning_ = now + kWarningEvery;
  spdlog::warn("audit backfill from Kafka: {} (retrying; the RabbitMQ path is not affected)", what);
}

void KafkaBackfill::Connect() {
  if (consumer_ || SteadyClock::now() < retry_at_) return;
  auto created = kafka::Consumer::Create(config_.kafka, {.group_id = config_.group_id});
  Status st = created.ok() ? (*created)->Subscribe(config_.topics) : Status(created.error());
  if (!st.ok()) {
    Trouble("cannot start the consumer: " + st.error().message);
    retry_at_ = SteadyClock::now() + retry_delay_;
    retry_delay_ = std::min(retry_delay_ * 2, kMaxRetryDelay);
    return;
  }
  consumer_ = std::move(created).value();
  retry_delay_ = milliseconds(1000);
  spdlog::info("audit backfill: consuming {} Kafka topics as group {}, {} ms behind the fanout",
               config_.topics.size(), config_.group_id, config_.delay.count());
}

void KafkaBackfill::Fetch() {
  while (consumer_ && pending_.size() < config_.max_pending) {
    auto polled = consumer_->Poll(milliseconds(0));
    if (!polled.ok()) {
      Trouble(polled.error().message);
      if (!polled.error().transient()) {
        (void)consumer_->Close();
        consumer_.reset();
        retry_at_ = SteadyClock::now() + retry_delay_;
      }
      return;
    }
    if (!polled->has_value()) return;
    auto& record = **polled;
    const auto produced = record.timestamp_ms >= 0
                              ? SystemClock::time_point(milliseconds(record.timestamp_ms))
                              : SystemClock::now();
    pending_.push_back({std::move(record), produced + config_.delay});
  }
}

void KafkaBackfill::CommitThrough(std::size_t count) {
  // Records of one partition come in offset order, so the last one taken of each partition
  // covers every earlier one.
  std::map<std::pair<std::string, std::int32_t>, std::size_t> last;
  for (std::size_t i = 0; i < count; ++i) {
    last[{pending_[i].record.topic, pending_[i].record.partition}] = i;
  }
  for (const auto& [tp, i] : last) {
    if (auto st = consumer_ ? consumer_->Commit(pending_[i].record) : Status(OkStatus());
        !st.ok()) {
      // Written but not committed: read again later (after a restart) and found a duplicate.
      Trouble("commit of " + tp.first + "[" + std::to_string(tp.second) +
              "] failed: " + st.error().message);
    }
  }
}

Result<BackfillResult> KafkaBackfill::Step(AuditLog& log) {
  BackfillResult result;
  if (!config_.enabled()) return result;
  Connect();
  Fetch();
  const auto now = SystemClock::now();
  std::size_t taken = 0;
  std::vector<ParsedEvent> events;
  while (taken < pending_.size() && taken < config_.max_batch && pending_[taken].due <= now) {
    auto parsed = ParseEvent(pending_[taken].record.payload);
    if (parsed.ok()) {
      events.push_back(std::move(parsed).value());
    } else {
      // The fanout copy of such a record is dead-lettered by the consumer; nothing to log here.
      const auto& r = pending_[taken].record;
      spdlog::warn("audit backfill: skipping record {}[{}]@{}: {}", r.topic, r.partition, r.offset,
                   parsed.error().message);
      ++result.malformed;
    }
    ++taken;
  }
  if (taken == 0) return result;
  if (!events.empty()) {
    auto appended = log.Append(events);
    if (!appended.ok()) return std::move(appended).error();  // kept pending for the next log
    result.written = appended->written;
    result.duplicates = appended->duplicates;
  }
  CommitThrough(taken);
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(taken));
  if (result.written > 0) {
    spdlog::warn(
        "audit backfill: {} events were missing from the audit log and were taken from Kafka "
        "(the fanout did not deliver them within {} ms)",
        result.written, config_.delay.count());
  }
  return result;
}

}  // namespace chansum::event_logger
