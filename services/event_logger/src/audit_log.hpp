#pragma once
// The audit log: a size-rotated JSON-lines file of domain events, deduplicated by event_id.
//
// Files in the audit directory: events.jsonl (active), events.jsonl.1 (newest rotated) …
// events.jsonl.<keep-1> (oldest kept). `keep` counts ALL files including the active one. Before a
// line would push the active file over max_bytes, it is fsynced and the files shift by one
// (.<keep-1> is deleted, events.jsonl becomes .1) and a new events.jsonl is started; a line bigger
// than max_bytes gets a file of its own.
//
// Dedup: every event_id of the kept files is held in memory (IdIndex), rebuilt at Open by reading
// the kept files. Ids of a file deleted by rotation are forgotten with it.
//
// Durability: Append writes the new lines with write() and fsyncs the file before returning OK, so
// OK means "on disk". Open truncates a torn last line (a crash in the middle of a write: that
// batch was never acknowledged, so it is redelivered).
//
// Threading: one thread owns an AuditLog.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chansum/common/result.hpp"

namespace chansum::event_logger {

inline constexpr std::string_view kActiveFileName = "events.jsonl";
// "events.jsonl" for index 0, "events.jsonl.<index>" otherwise.
[[nodiscard]] std::string AuditFileName(int index);

// One event ready to be written: its id and its line (compact JSON, no trailing newline).
struct ParsedEvent {
  std::string event_id;
  std::string line;
};

// Parses a message body into an audit line with protocol::ParseRawEvent: the envelope
// re-serialized as compact JSON with its keys in the order received. Any identifiable event is
// kept, even one the contract does not know (yet); the parser's permanent error (code
// "malformed_event") when the body is not a JSON object with a string "event_id" of 1 to
// protocol::kMaxEventIdLength characters.
[[nodiscard]] Result<ParsedEvent> ParseEvent(std::string_view body);

// The top-level event_id of one audit line; nullopt when the line is not such an object. Fast path
// for lines starting with {"event_id":"…" (what the pipeline emits), full parse otherwise.
[[nodiscard]] std::optional<std::string> ExtractEventId(std::string_view line);

// Set of event ids, each tagged with the serial number of the file that holds it. Canonical
// lower-case UUIDs are stored as 128-bit keys (about 50–60 bytes per id with hash-table overhead),
// anything else as a string.
class IdIndex {
 public:
  [[nodiscard]] bool Contains(std::string_view id) const;
  // Adds `id` in file `serial`; false (and no change) when already present.
  bool Insert(std::string_view id, std::uint32_t serial);
  // Forgets every id of file `serial`.
  void DropSerial(std::uint32_t serial);
  [[nodiscard]] std::size_t size() const noexcept { return uuids_.size() + others_.size(); }

 private:
  struct U128 {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    bool operator==(const U128&) const = default;
  };
  struct U128Hash {
    std::size_t operator()(const U128& u) const noexcept {
      return static_cast<std::size_t>(u.hi ^ (u.lo * 0x9E3779B97F4A7C15ULL));
    }
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  static std::optional<U128> ParseUuid(std::string_view id);

  std::unordered_map<U128, std::uint32_t, U128Hash> uuids_;
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> others_;
};

struct AuditLogOptions {
  std::filesystem::path dir;
  std::uint64_t max_bytes = 64ULL * 1024 * 1024;
  int keep = 10;  // files kept including the active one (>= 1)
};

struct AppendResult {
  std::size_t written = 0;     // new lines written (and fsynced)
  std::size_t duplicates = 0;  // events whose id was already in the log (or earlier in the batch)
};

class AuditLog {
 public:
  // Creates the directory if needed, truncates a torn last line of the active file, and reads the
  // kept files to rebuild the id index (files beyond `keep` are ignored and left alone). Transient
  // error on I/O failure.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> Open(AuditLogOptions options);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  [[nodiscard]] bool Contains(std::string_view event_id) const { return index_.Contains(event_id); }
  // Writes the events whose id is not yet in the log, rotating as needed, then fsyncs. OK means
  // every written line is on disk. After an error the AuditLog is unusable (ok() false): drop it
  // and Open again, which rebuilds the index from what is actually on disk.
  [[nodiscard]] Result<AppendResult> Append(std::span<const ParsedEvent> events);

  [[nodiscard]] bool ok() const noexcept { return fd_ >= 0 && !broken_; }
  [[nodiscard]] std::size_t known_ids() const noexcept { return index_.size(); }
  [[nodiscard]] std::uint64_t active_size() const noexcept { return size_; }
  [[nodiscard]] const AuditLogOptions& options() const noexcept { return options_; }

 private:
  explicit AuditLog(AuditLogOptions options) : options_(std::move(options)) {}
  [[nodiscard]] std::filesystem::path PathOf(int index) const;
  [[nodiscard]] Status Scan(int index, std::uint32_t serial);
  [[nodiscard]] Status OpenActive();
  [[nodiscard]] Status WriteAll(std::string_view data);
  [[nodiscard]] Status Rotate();
  Error Fail(Error error);

  AuditLogOptions options_;
  int fd_ = -1;
  bool broken_ = false;
  std::uint64_t size_ = 0;    // bytes in the active file
  std::uint32_t serial_ = 0;  // serial of the active file; events.jsonl.i has serial_ - i
  IdIndex index_;
};

}  // namespace chansum::event_logger
