#include "chansum/outbox/metrics.hpp"

#include <spdlog/spdlog.h>

#include "chansum/metrics/metrics.hpp"

namespace chansum::outbox {

int RegisterBacklogMetrics(std::function<std::unique_ptr<pqxx::connection>()> connect) {
  auto& registry = metrics::Registry::Default();
  auto& pending = registry.AddGauge("chansum_outbox_pending_messages",
                                    "Outbox rows not yet published, by destination (amqp|kafka).",
                                    {"destination"});
  auto& oldest = registry.AddGauge(
      "chansum_outbox_oldest_pending_seconds",
      "Age of the oldest unpublished outbox row, by destination (0 when none).", {"destination"});
  auto& ok = registry.AddGauge("chansum_outbox_backlog_scrape_ok",
                               "1 when the outbox backlog could be read from PostgreSQL.");
  // Collectors run one at a time (the registry serializes them), so the connection needs no lock.
  auto conn = std::make_shared<std::unique_ptr<pqxx::connection>>();
  return registry.AddCollector([connect = std::move(connect), conn, &pending, &oldest, &ok] {
    try {
      if (!*conn || !(*conn)->is_open()) *conn = connect();
      pqxx::read_transaction txn(**conn);
      double amqp = 0, kafka = 0, amqp_age = 0, kafka_age = 0;
      for (const auto& row :
           txn.exec("SELECT destination, count(*), "
                    "COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 "
                    "FROM outbox WHERE published_at IS NULL GROUP BY destination")) {
        const std::string destination = row[0].as<std::string>();
        (destination == "amqp" ? amqp : kafka) = row[1].as<double>();
        (destination == "amqp" ? amqp_age : kafka_age) = row[2].as<double>();
      }
      pending.Labels({"amqp"}).Set(amqp);
      pending.Labels({"kafka"}).Set(kafka);
      oldest.Labels({"amqp"}).Set(amqp_age);
      oldest.Labels({"kafka"}).Set(kafka_age);
      ok.Labels({}).Set(1);
    } catch (const std::exception& e) {
      conn->reset();
      ok.Labels({}).Set(0);
      spdlog::debug("metrics: cannot read the outbox backlog: {}", e.what());
    }
  });
}

}  // namespace chansum::outbox
