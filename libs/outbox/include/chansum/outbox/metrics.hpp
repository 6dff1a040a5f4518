#pragma once
// Outbox backlog on /metrics: chansum_outbox_pending_messages{destination} and
// chansum_outbox_oldest_pending_seconds{destination}, read from PostgreSQL on every scrape (the
// pending rows have a partial index, so the count is cheap). The outbox is shared by every
// process, so every service reports the same backlog.
#include <functional>
#include <memory>

#include <pqxx/pqxx>

namespace chansum::outbox {

// Registers a collector on metrics::Registry::Default() that counts pending rows through a
// connection opened with `connect` (kept between scrapes, reopened after a failure). When
// PostgreSQL is unreachable the gauges keep their last values and
// chansum_outbox_backlog_scrape_ok is 0. Returns the collector id (for RemoveCollector).
int RegisterBacklogMetrics(std::function<std::unique_ptr<pqxx::connection>()> connect);

}  // namespace chansum::outbox
