#pragma once
// Topic administration through the Kafka Admin API.
#include <string>
#include <vector>

#include "chansum/common/result.hpp"
#include "chansum/kafka/config.hpp"

namespace chansum::kafka {

// Creates the topics that do not exist yet (idempotent: TOPIC_ALREADY_EXISTS counts as success;
// an existing topic keeps its partition count). Waits up to config.message_timeout.
[[nodiscard]] Status CreateTopics(const KafkaConfig& config, const std::vector<std::string>& topics,
                                  int partitions, int replication);

// Deletes topics (tests and tooling); an unknown topic counts as success.
[[nodiscard]] Status DeleteTopics(const KafkaConfig& config,
                                  const std::vector<std::string>& topics);

}  // namespace chansum::kafka
