#include "src/audit_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "chansum/protocol/events.hpp"

namespace chansum::event_logger {
namespace {

constexpr std::string_view kFastPrefix = R"({"event_id":")";

Error IoError(const std::string& what, int err) {
  return Error::Transient("audit_io", what + ": " + std::strerror(err));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not canonical: such ids are kept as strings
}

Status FsyncDir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("open directory " + dir.string(), errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return IoError("fsync directory " + dir.string(), err);
  return OkStatus();
}

}  // namespace

std::string AuditFileName(int index) {
  std::string name(kActiveFileName);
  if (index > 0) name += "." + std::to_string(index);
  return name;
}

Result<ParsedEvent> ParseEvent(std::string_view body) {
  auto raw = protocol::ParseRawEvent(body);
  if (!raw.ok()) return std::move(raw).error();
  // Compact, key order kept; invalid UTF-8 cannot get here (the parser rejects it).
  std::string line =
      raw->json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return ParsedEvent{std::move(raw->event_id), std::move(line)};
}

std::optional<std::string> ExtractEventId(std::string_view line) {
  if (line.starts_with(kFastPrefix)) {
    const auto rest = line.substr(kFastPrefix.size());
    const auto end = rest.find_first_of("\"\\");
    if (end != std::string_view::npos && rest[end] == '"' && end > 0) {
      return std::string(rest.substr(0, end));
    }
  }
  auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  auto it = doc.find("event_id");
  if (it == doc.end() || !it->is_string()) return std::nullopt;
  auto id = it->get<std::string>();
  if (id.empty()) return std::nullopt;
  return id;
}

// ---- IdIndex ----

std::optional<IdIndex::U128> IdIndex::ParseUuid(std::string_view id) {
  if (id.size() != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-') {
    return std::nullopt;
  }
  U128 u;
  int nibbles = 0;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    const int v = HexValue(id[i]);
    if (v < 0) return std::nullopt;
    std::uint64_t& half = nibbles < 16 ? u.hi : u.lo;
    half = (half << 4) | static_cast<std::uint64_t>(v);
    ++nibbles;
  }
  return u;
}

bool IdIndex::Contains(std::string_view id) const {
  if (auto u = ParseUuid(id)) return uuids_.contains(*u);
  return others_.find(id) != others_.end();
}

bool IdIndex::Insert(std::string_view id, std::uint32_t serial) {
  if (auto u = ParseUuid(id)) return uuids_.emplace(*u, serial).second;
  if (others_.find(id) != others_.end()) return false;
  others_.emplace(std::string(id), serial);
  return true;
}

void IdIndex::DropSerial(std::uint32_t serial) {
  std::erase_if(uuids_, [serial](const auto& kv) { return kv.second == serial; });
  std::erase_if(others_, [serial](const auto& kv) { return kv.second == serial; });
}

// ---- AuditLog ----

AuditLog::~AuditLog() {
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

std::filesystem::path AuditLog::PathOf(int index) const {
  return options_.dir / AuditFileName(index);
}

Error AuditLog::Fail(Error error) {
  broken_ = true;
  return error;
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(AuditLogOptions options) {
  if (options.keep < 1) options.keep = 1;
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options)));
  std::error_code ec;
  std::filesystem::create_directories(log->options_.dir, ec);
  if (ec) {
    return Error::Transient("audit_io",
                            "create directory " + log->options_.dir.string() + ": " + ec.message());
  }
  if (auto st = log->OpenActive(); !st.ok()) return std::move(st).error();
  // Oldest first; the active file has serial `keep`, events.jsonl.i has keep - i (>= 1).
  log->serial_ = static_cast<std::uint32_t>(log->options_.keep);
  for (int i = log->options_.keep - 1; i >= 0; --i) {
    if (auto st = log->Scan(i, log->serial_ - static_cast<std::uint32_t>(i)); !st.ok()) {
      return std::move(st).error();
    }
  }
  return log;
}

Status AuditLog::OpenActive() {
  const auto path = PathOf(0);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) return IoError("open " + path.string(), errno);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return IoError("stat " + path.string(), errno);
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (size_ > 0) {
    // A torn last line (crash in the middle of a write) is cut off: its batch was never acked.
    char last = 0;
    if (::pread(fd_, &last, 1, static_cast<off_t>(size_ - 1)) != 1) {
      return IoError("read " + path.string(), errno);
    }
    if (last != '\n') {
      std::uint64_t keep_bytes = size_ - 1;
      char c = 0;
      while (keep_bytes > 0) {
        if (::pread(fd_, &c, 1, static_cast<off_t>(keep_bytes - 1)) != 1) {
          return IoError("read " + path.string(), errno);
        }
        if (c == '\n') break;
        --keep_bytes;
      }
      spdlog::warn("audit log {}: truncating a torn last line ({} bytes)", path.string(),
                   size_ - keep_bytes);
      if (::ftruncate(fd_, static_cast<off_t>(keep_bytes)) != 0 || ::fsync(fd_) != 0) {
        return IoError("truncate " + path.string(), errno);
      }
      size_ = keep_bytes;
    }
  }
  return FsyncDir(options_.dir);
}

Status AuditLog::Scan(int index, std::uint32_t serial) {
  const auto path = PathOf(index);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && index > 0) return OkStatus();  // a rotated file that does not exist yet
    return IoError("open " + path.string(), errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return IoError("stat " + path.string(), err);
  }
  // Read at most the size the file had when opened (bounded; a device never streams forever).
  std::uint64_t left = static_cast<std::uint64_t>(st.st_size);
  std::size_t lines = 0;
  std::size_t bad = 0;
  auto take = [&](std::string_view line) {
    if (line.empty()) return;
    ++lines;
    if (auto id = ExtractEventId(line)) {
      index_.Insert(*id, serial);
    } else {
      ++bad;
    }
  };
  std::string chunk(1 << 20, '\0');
  std::string carry;
  while (left > 0) {
    const ssize_t n = ::read(fd, chunk.data(), std::min<std::uint64_t>(chunk.size(), left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return IoError("read " + path.string(), err);
    }
    if (n == 0) break;
    left -= static_cast<std::uint64_t>(n);
    std::string_view data(chunk.data(), static_cast<std::size_t>(n));
    for (auto nl = data.find('\n'); nl != std::string_view::npos; nl = data.find('\n')) {
      if (carry.empty()) {
        take(data.substr(0, nl));
      } else {
        carry.append(data.substr(0, nl));
        take(carry);
        carry.clear();
      }
      data.remove_prefix(nl + 1);
    }
    carry.append(data);
  }
  ::close(fd);
  take(carry);  // a rotated file never ends torn, but count it anyway
  if (bad > 0) {
    spdlog::warn("audit log {}: {} of {} lines have no event_id (ignored for dedup)", path.string(),
                 bad, lines);
  }
  return OkStatus();
}

Status AuditLog::WriteAll(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(IoError("write " + PathOf(0).string(), errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    size_ += static_cast<std::uint64_t>(n);
  }
  return OkStatus();
}

Status AuditLog::Rotate() {
  if (::fsync(fd_) != 0) return Fail(IoError("fsync " + PathOf(0).string(), errno));
  ::close(fd_);
  fd_ = -1;
  const int keep = options_.keep;
  // The oldest kept file goes away with its ids.
  const auto oldest = PathOf(keep - 1);
  if (::unlink(oldest.c_str()) != 0 && errno != ENOENT) {
    return Fail(IoError("unlink " + oldest.string(), errno));
  }
  index_.DropSerial(serial_ - static_cast<std::uint32_t>(keep - 1));
  for (int i = keep - 2; i >= 0; --i) {
    const auto from = PathOf(i);
    const auto to = PathOf(i + 1);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return Fail(IoError("rename " + from.string() + " to " + to.string(), errno));
    }
  }
  ++serial_;
  size_ = 0;
  if (auto st = OpenActive(); !st.ok()) return Fail(std::move(st).error());
  spdlog::info("audit log rotated in {} (keeping {} files)", options_.dir.string(), keep);
  return OkStatus();
}

Result<AppendResult> AuditLog::Append(std::span<const ParsedEvent> events) {
  if (!ok()) return Error::Transient("audit_io", "audit log is unusable after an earlier error");
  AppendResult result;
  std::string buf;
  for (const auto& ev : events) {
    if (index_.Contains(ev.event_id)) {
      ++result.duplicates;
      continue;
    }
    const std::uint64_t line_bytes = ev.line.size() + 1;
    const std::uint64_t pending = size_ + buf.size();
    if (pending > 0 && pending + line_bytes > options_.max_bytes) {
      if (auto st = WriteAll(buf); !st.ok()) return std::move(st).error();
      buf.clear();
      if (auto st = Rotate(); !st.ok()) return std::move(st).error();
    }
    buf.append(ev.line);
    buf.push_back('\n');
    index_.Insert(ev.event_id, serial_);
    ++result.written;
  }
  if (!buf.empty()) {
    if (auto st = WriteAll(buf); !st.ok()) return std::move(st).error();
  }
  if (result.written > 0 && ::fsync(fd_) != 0) {
    return Fail(IoError("fsync " + PathOf(0).string(), errno));
  }
  return result;
}

}  // namespace chansum::event_logger
