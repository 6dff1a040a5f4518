#pragma once
// Document store settings, read from the environment:
//   MONGO_URI      required, e.g. mongodb://127.0.0.1:27027/chansum (the path names the
//                  database, default "chansum"); URI options are passed through to libmongoc
//   MONGO_TIMEOUT  server selection and connect timeout, default 5s: how long a call waits for
//                  an unreachable server before it fails with a transient error
#include <chrono>
#include <string>

#include "chansum/common/config.hpp"

namespace chansum::docstore {

struct DocstoreConfig {
  std::string uri;  // as given; log only Redacted()
  std::string database = "chansum";
  std::chrono::milliseconds timeout{5000};

  // Reads the variables above; problems are recorded in `env` (call env.Finish()). A malformed
  // URI is reported by DocStore::Open.
  [[nodiscard]] static DocstoreConfig FromEnv(ConfigReader& env);
  // The URI with its password replaced, safe to log.
  [[nodiscard]] std::string Redacted() const;
};

// The database named by the URI path ("mongodb://h:1/db?x=y" -> "db"), or `fallback` when the
// URI has no path.
[[nodiscard]] std::string DatabaseFromUri(const std::string& uri, const std::string& fallback);

}  // namespace chansum::docstore
