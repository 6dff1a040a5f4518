// Pure parts of the audit log: file naming, line format, id extraction, the id index, and the
// file behaviour (append, dedup, rotation, reopen, torn tail) on a temporary directory.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "chansum/common/ids.hpp"
#include "src/audit_log.hpp"

namespace chansum::event_logger {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "evlog-unit-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<std::string> ReadLines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

ParsedEvent Event(const std::string& id, const std::string& padding = "") {
  auto parsed = ParseEvent(R"({"event_id":")" + id +
                           R"(","type":"video.downloaded","data":{"pad":")" + padding + "\"}}");
  EXPECT_TRUE(parsed.ok());
  return parsed.value();
}

TEST(AuditFileNameTest, ActiveAndRotated) {
  EXPECT_EQ(AuditFileName(0), "events.jsonl");
  EXPECT_EQ(AuditFileName(1), "events.jsonl.1");
  EXPECT_EQ(AuditFileName(12), "events.jsonl.12");
}

TEST(ParseEventTest, CompactKeepsKeyOrder) {
  auto parsed = ParseEvent(
      "{ \"type\" : \"job.completed\",\n  \"event_id\": \"abc\", \"version\": 1,"
      " \"data\": {\"z\": 1.5, \"a\": [1, 2], \"s\": \"line\\nbreak\"} }");
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->event_id, "abc");
  EXPECT_EQ(parsed->line, R"({"type":"job.completed","event_id":"abc","version":1,)"
                          R"("data":{"z":1.5,"a":[1,2],"s":"line\nbreak"}})");
  EXPECT_EQ(parsed->line.find('\n'), std::string::npos);
}

TEST(ParseEventTest, RejectsMalformedWithReason) {
  struct Case {
    std::string body;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"not json", "not valid JSON"},
      {"", "not valid JSON"},
      {"[1,2]", "not a JSON object"},
      {R"({"type":"x"})", "no event_id"},
      {R"({"event_id":42})", "not a string"},
      {R"({"event_id":""})", "empty"},
      {R"({"event_id":")" + std::string(300, 'a') + "\"}", "longer than"},
      {"{\"event_id\":\"a\xff\"}", "not valid JSON"},  // invalid UTF-8
  };
  for (const auto& c : cases) {
    auto parsed = ParseEvent(c.body);
    ASSERT_FALSE(parsed.ok()) << c.body;
    EXPECT_EQ(parsed.error().code, "malformed_event");
    EXPECT_FALSE(parsed.error().transient());
    EXPECT_NE(parsed.error().message.find(c.reason), std::string::npos)
        << c.body << " -> " << parsed.error().message;
  }
}

TEST(ExtractEventIdTest, FastPathAndFallback) {
  EXPECT_EQ(ExtractEventId(R"({"event_id":"id-1","type":"t"})"), "id-1");
  EXPECT_EQ(ExtractEventId(R"({"type":"t","event_id":"id-2"})"), "id-2");
  // An escaped quote defeats the fast path; the full parse decodes it.
  EXPECT_EQ(ExtractEventId(R"({"event_id":"a\"b"})"), "a\"b");
  // Only the top-level key counts.
  EXPECT_EQ(ExtractEventId(R"({"data":{"event_id":"inner"}})"), std::nullopt);
  EXPECT_EQ(ExtractEventId(R"({"event_id":"trunc)"), std::nullopt);
  EXPECT_EQ(ExtractEventId("garbage"), std::nullopt);
  EXPECT_EQ(ExtractEventId(R"({"event_id":""})"), std::nullopt);
}

TEST(IdIndexTest, UuidsAndOtherIdsAndDropSerial) {
  IdIndex index;
  const std::string uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
  EXPECT_TRUE(index.Insert(uuid, 1));
  EXPECT_FALSE(index.Insert(uuid, 2));
  EXPECT_TRUE(index.Contains(uuid));
  // Upper case is a different string id (stored as a string, not folded).
  EXPECT_FALSE(index.Contains("0F8FAD5B-D9CB-469F-A165-70867728950E"));
  EXPECT_TRUE(index.Insert("not-a-uuid", 2));
  EXPECT_TRUE(index.Contains("not-a-uuid"));
  EXPECT_FALSE(index.Contains("0f8fad5b-d9cb-469f-a165-70867728950f"));
  EXPECT_EQ(index.size(), 2u);
  index.DropSerial(1);
  EXPECT_FALSE(index.Contains(uuid));
  EXPECT_TRUE(index.Contains("not-a-uuid"));
  index.DropSerial(2);
  EXPECT_EQ(index.size(), 0u);
}

TEST(AuditLogTest, AppendsDedupsAndSurvivesReopen) {
  TempDir dir;
  const std::string a = NewUuid(), b = NewUuid(), c = NewUuid();
  {
    auto log = AuditLog::Open({dir.path(), 1 << 20, 3});
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    std::vector<ParsedEvent> batch = {Event(a), Event(b), Event(a)};
    auto r = (*log)->Append(batch);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->written, 2u);
    EXPECT_EQ(r->duplicates, 1u);
  }
  auto log = AuditLog::Open({dir.path(), 1 << 20, 3});
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->known_ids(), 2u);
  std::vector<ParsedEvent> batch = {Event(b), Event(c)};
  auto r = (*log)->Append(batch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->written, 1u);
  EXPECT_EQ(r->duplicates, 1u);
  const auto lines = ReadLines(dir.path() / "events.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(ExtractEventId(lines[0]), a);
  EXPECT_EQ(ExtractEventId(lines[1]), b);
  EXPECT_EQ(ExtractEventId(lines[2]), c);
  EXPECT_EQ(lines[0], Event(a).line);
}

TEST(AuditLogTest, RotatesKeepsFilesAndForgetsDeletedIds) {
  TempDir dir;
  const std::string pad(150, 'x');
  const std::uint64_t line_size = Event(NewUuid(), pad).line.size() + 1;
  // Three lines per file; keep 3 files.
  const AuditLogOptions options{dir.path(), line_size * 3, 3};
  std::vector<std::string> ids;
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 14; ++i) {
    ids.push_back(NewUuid());
    std::vector<ParsedEvent> one = {Event(ids.back(), pad)};
    ASSERT_TRUE((*log)->Append(one).ok());
  }
  // 14 lines = files of 3,3,3,3,2: the active file has 2, .1 and .2 have 3, .3 was never kept.
  EXPECT_EQ(ReadLines(dir.path() / "events.jsonl").size(), 2u);
  EXPECT_EQ(ReadLines(dir.path() / "events.jsonl.1").size(), 3u);
  EXPECT_EQ(ReadLines(dir.path() / "events.jsonl.2").size(), 3u);
  EXPECT_FALSE(fs::exists(dir.path() / "events.jsonl.3"));
  EXPECT_EQ(ExtractEventId(ReadLines(dir.path() / "events.jsonl.2")[0]), ids[6]);
  for (const auto& f : fs::directory_iterator(dir.path())) {
    EXPECT_LE(static_cast<std::uint64_t>(f.file_size()), options.max_bytes);
  }
  EXPECT_EQ((*log)->known_ids(), 8u);
  EXPECT_TRUE((*log)->Contains(ids[6]));
  EXPECT_FALSE((*log)->Contains(ids[5]));  // its file was deleted

  // Reopen: the index is rebuilt from the three kept files.
  log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->known_ids(), 8u);
  std::vector<ParsedEvent> again = {Event(ids[6], pad), Event(ids[13], pad)};
  auto r = (*log)->Append(again);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->written, 0u);
  EXPECT_EQ(r->duplicates, 2u);
}

TEST(AuditLogTest, KeepOneTruncatesOnRotation) {
  TempDir dir;
  const std::uint64_t line_size = Event(NewUuid()).line.size() + 1;
  auto log = AuditLog::Open({dir.path(), line_size * 2, 1});
  ASSERT_TRUE(log.ok());
  std::vector<ParsedEvent> batch = {Event(NewUuid()), Event(NewUuid()), Event(NewUuid())};
  ASSERT_TRUE((*log)->Append(batch).ok());
  EXPECT_EQ(ReadLines(dir.path() / "events.jsonl").size(), 1u);
  EXPECT_FALSE(fs::exists(dir.path() / "events.jsonl.1"));
  EXPECT_EQ((*log)->known_ids(), 1u);
}

TEST(AuditLogTest, OversizedLineGetsItsOwnFile) {
  TempDir dir;
  auto log = AuditLog::Open({dir.path(), 100, 5});
  ASSERT_TRUE(log.ok());
  std::vector<ParsedEvent> batch = {Event("small"), Event("big", std::string(500, 'y')),
                                    Event("small2")};
  ASSERT_TRUE((*log)->Append(batch).ok());
  EXPECT_EQ(ReadLines(dir.path() / "events.jsonl.2").size(), 1u);
  EXPECT_EQ(ExtractEventId(ReadLines(dir.path() / "events.jsonl.1")[0]), "big");
  EXPECT_EQ(ExtractEventId(ReadLines(dir.path() / "events.jsonl")[0]), "small2");
}

TEST(AuditLogTest, TornLastLineIsTruncatedAtOpen) {
  TempDir dir;
  const std::string good = Event("good").line;
  {
    std::ofstream out(dir.path() / "events.jsonl", std::ios::binary);
    out << good << "\n"
        << R"({"event_id":"torn","ty)";
  }
  auto log = AuditLog::Open({dir.path(), 1 << 20, 2});
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->known_ids(), 1u);
  EXPECT_FALSE((*log)->Contains("torn"));
  std::vector<ParsedEvent> batch = {Event("torn")};
  ASSERT_TRUE((*log)->Append(batch).ok());
  const auto lines = ReadLines(dir.path() / "events.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], good);
  EXPECT_EQ(ExtractEventId(lines[1]), "torn");
}

TEST(AuditLogTest, WriteFailureMakesTheLogUnusable) {
  TempDir dir;
  fs::create_symlink("/dev/full", dir.path() / "events.jsonl");  // every write: ENOSPC
  auto log = AuditLog::Open({dir.path(), 1 << 20, 2});
  ASSERT_TRUE(log.ok()) << log.error().ToString();
  std::vector<ParsedEvent> batch = {Event("x")};
  auto r = (*log)->Append(batch);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().transient());
  EXPECT_NE(r.error().message.find("No space"), std::string::npos) << r.error().message;
  EXPECT_FALSE((*log)->ok());
  EXPECT_FALSE((*log)->Append(batch).ok());
}

TEST(AuditLogTest, UnwritableDirectoryIsAnError) {
  auto log = AuditLog::Open({"/proc/chansum-no-such-dir", 1 << 20, 2});
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.error().transient());
}

}  // namespace
}  // namespace chansum::event_logger
