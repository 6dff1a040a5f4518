#include "chansum/docstore/config.hpp"

#include "chansum/common/logging.hpp"

namespace chansum::docstore {

std::string DatabaseFromUri(const std::string& uri, const std::string& fallback) {
  const auto scheme = uri.find("://");
  const std::size_t hosts = scheme == std::string::npos ? 0 : scheme + 3;
  // The host list ends at the first '/' (credentials cannot hold an unescaped '/').
  const auto slash = uri.find('/', hosts);
  if (slash == std::string::npos) return fallback;
  const auto end = uri.find('?', slash);
  std::string db =
      uri.substr(slash + 1, end == std::string::npos ? std::string::npos : end - slash - 1);
  return db.empty() ? fallback : db;
}

DocstoreConfig DocstoreConfig::FromEnv(ConfigReader& env) {
  DocstoreConfig c;
  c.uri =
      env.RequireString("MONGO_URI", "MongoDB connection URI, e.g. mongodb://host:27017/chansum");
  c.database = DatabaseFromUri(c.uri, "chansum");
  c.timeout = env.Duration("MONGO_TIMEOUT", std::chrono::seconds(5));
  return c;
}

std::string DocstoreConfig::Redacted() const { return RedactUrl(uri); }

}  // namespace chansum::docstore
