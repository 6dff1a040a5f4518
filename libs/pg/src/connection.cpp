#include "chansum/pg/connection.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <map>
#include <regex>

#include "chansum/common/logging.hpp"

namespace chansum::pg {
namespace {

bool IsUri(std::string_view s) {
  return s.starts_with("postgresql://") || s.starts_with("postgres://");
}

// Keyword -> value of every parameter set in `conninfo`; nullopt when it does not parse.
std::optional<std::map<std::string, std::string>> ParseConninfo(const std::string& conninfo,
                                                                std::string* error = nullptr) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    if (error != nullptr) *error = err != nullptr ? err : "out of memory";
    if (err != nullptr) PQfreemem(err);
    return std::nullopt;
  }
  std::map<std::string, std::string> values;
  for (auto* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) values[o->keyword] = o->val;
  }
  PQconninfoFree(opts);
  return values;
}

// Escapes one value inside libpq's `options` (command-line style: spaces and backslashes).
std::string EscapeOptionValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == ' ' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string PercentEncode(const std::string& v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string QuoteKeyValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

void AppendParam(std::string& conninfo, const std::string& key, const std::string& value) {
  if (IsUri(conninfo)) {
    conninfo += conninfo.find('?') == std::string::npos ? '?' : '&';
    conninfo += key + "=" + PercentEncode(value);
  } else {
    if (!conninfo.empty()) conninfo += ' ';
    conninfo += key + "=" + QuoteKeyValue(value);
  }
}

// Replaces every occurrence of the password (when long enough to be meaningful) in `text`.
std::string ScrubPassword(std::string text, const std::string& conninfo) {
  auto values = ParseConninfo(conninfo);
  if (!values) return text;
  auto it = values->find("password");
  if (it == values->end() || it->second.size() < 3) return text;
  for (auto pos = text.find(it->second); pos != std::string::npos;
       pos = text.find(it->second, pos + 3)) {
    text.replace(pos, it->second.size(), "***");
  }
  return text;
}

std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\t', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

PgConfig PgConfig::FromEnv(ConfigReader& env) {
  PgConfig c;
  c.url = env.RequireString("DATABASE_URL",
                            "PostgreSQL connection URI, e.g. postgresql://user:pass@host:5432/db");
  c.connect_timeout = env.Duration("PG_CONNECT_TIMEOUT", std::chrono::seconds(5));
  c.statement_timeout = env.Duration("PG_STATEMENT_TIMEOUT", std::chrono::milliseconds(0));
  c.search_path = env.String("PG_SEARCH_PATH", "");
  return c;
}

std::string ConnectionString(const PgConfig& config) {
  std::string conninfo = config.url;
  auto given = ParseConninfo(conninfo);
  if (!given) return conninfo;  // Connect() reports the malformed URL
  if (!given->contains("connect_timeout")) {
    const auto ms = std::max<std::int64_t>(config.connect_timeout.count(), 1);
    AppendParam(conninfo, "connect_timeout", std::to_string((ms + 999) / 1000));
  }
  std::string options;
  if (config.statement_timeout.count() > 0) {
    options += "-c statement_timeout=" + std::to_string(config.statement_timeout.count());
  }
  if (!config.search_path.empty()) {
    if (!options.empty()) options += ' ';
    options += "-c search_path=" + EscapeOptionValue(config.search_path);
  }
  if (!options.empty()) {
    // A later `options` overrides an earlier one in libpq: keep the URL's own options too.
    auto it = given->find("options");
    if (it != given->end() && !it->second.empty()) options = it->second + " " + options;
    AppendParam(conninfo, "options", options);
  }
  return conninfo;
}

std::string RedactConninfo(const std::string& conninfo) {
  std::string out;
  if (IsUri(conninfo)) {
    out = RedactUrl(conninfo);
    static const std::regex kQueryPassword("([?&]password=)[^&]*");
    out = std::regex_replace(out, kQueryPassword, "$1***");
  } else {
    static const std::regex kKeyValuePassword(R"((password\s*=\s*)('([^'\\]|\\.)*'|\S+))");
    out = std::regex_replace(conninfo, kKeyValuePassword, "$1***");
  }
  return ScrubPassword(out, conninfo);
}

Result<std::unique_ptr<pqxx::connection>> Connect(const PgConfig& config) {
  std::string parse_error;
  if (!ParseConninfo(config.url, &parse_error)) {
    // libpq quotes the offending piece, which may be part of the password: leave quotes out.
    static const std::regex kQuoted(R"("[^"]*")");
    return Error::Permanent("pg_bad_url",
                            "DATABASE_URL is not a valid PostgreSQL connection string: " +
                                OneLine(std::regex_replace(parse_error, kQuoted, "\"...\"")));
  }
  try {
    return std::make_unique<pqxx::connection>(ConnectionString(config));
  } catch (const std::exception& e) {
    return Error::Transient("pg_connect", "cannot connect to PostgreSQL at " +
                                              RedactConninfo(config.url) + ": " +
                                              ScrubPassword(OneLine(e.what()), config.url));
  }
}

ErrorClass ClassifySqlState(std::string_view s) noexcept {
  if (s == "40001" || s == "40P01" || s == "55P03" || s == "57014" || s == "57P01" ||
      s == "57P02" || s == "57P03" || s.starts_with("08") || s.starts_with("53")) {
    return ErrorClass::kTransient;
  }
  return ErrorClass::kPermanent;
}

std::string SqlState(const std::exception& e) {
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) return sql->sqlstate();
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr) return "40001";
  if (dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) return "40P01";
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) return "40003";
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) return "40000";
  return "";
}

Error ErrorFromException(const std::exception& e, std::string_view context) {
  const std::string prefix = context.empty() ? "" : std::string(context) + ": ";
  const std::string what = OneLine(e.what());
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return Error::Transient("pg_commit_unknown",
                            prefix +
                                "connection lost during COMMIT, the transaction may or may "
                                "not have been committed: " +
                                what);
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return Error::Transient("pg_connection_lost",
                            prefix + "connection to PostgreSQL lost: " + what);
  }
  if (const std::string state = SqlState(e); !state.empty()) {
    return Error{ClassifySqlState(state), "pg_sql", prefix + what + " (SQLSTATE " + state + ")"};
  }
  return Error::Permanent("pg_error", prefix + what);
}

}  // namespace chansum::pg
