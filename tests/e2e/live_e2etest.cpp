// The live side through the real API and real services on the demo channel: the job event stream
// (GET /jobs/{id}/events: snapshot, change events, heartbeats, resume with Last-Event-ID, end),
// cancelling a job (POST /jobs/{id}/cancel), and the `chansum` CLI binary driving all of it.
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chansum/cli/sse.hpp"
#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Reads one event stream on a thread of its own until the server ends it.
class StreamReader {
 public:
  StreamReader(int port, std::string path, httplib::Headers headers = {})
      : thread_([this, port, path = std::move(path), headers = std::move(headers)] {
          httplib::Client client("127.0.0.1", port);
          client.set_read_timeout(60);
          auto res = client.Get(
              path, headers,
              [this](const httplib::Response& r) {
                std::lock_guard lock(mu_);
                status_ = r.status;
                content_type_ = r.get_header_value("Content-Type");
                return true;
              },
              [this](const char* data, size_t n) {
                std::lock_guard lock(mu_);
                parser_.Feed(std::string(data, n));
                raw_.append(data, n);
                return !stop_.load();
              });
          ended_cleanly_ = static_cast<bool>(res);
          done_ = true;
        }) {}
  ~StreamReader() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool WaitEnd(std::chrono::seconds timeout) {
    return testing::WaitFor([&] { return done_.load(); }, timeout);
  }
  std::vector<cli::SseEvent> Events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  int Status() {
    std::lock_guard lock(mu_);
    return status_;
  }
  std::string ContentType() {
    std::lock_guard lock(mu_);
    return content_type_;
  }
  int Heartbeats() {
    std::lock_guard lock(mu_);
    return parser_.comments();
  }
  std::string Raw() {
    std::lock_guard lock(mu_);
    return raw_;
  }
  bool ended_cleanly() const { return ended_cleanly_.load(); }

 private:
  std::mutex mu_;
  std::vector<cli::SseEvent> events_;
  cli::SseParser parser_{[this](const cli::SseEvent& e) { events_.push_back(e); }};
  std::string raw_;
  int status_ = 0;
  std::string content_type_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<bool> ended_cleanly_{false};
  std::thread thread_;  // last: starts after the members it uses
};

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

bool Terminal(const std::string& s) {
  return s == "completed" || s == "completed_with_errors" || s == "failed" || s == "cancelled";
}

class LiveE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* v : {"DATABASE_URL", "AMQP_URL", "MONGO_URI"}) {
      ASSERT_FALSE(testing::RequireEnv(v).empty());
    }
    demo_ = new DemoChannel();
    const std::string demo_error = demo_->Start("chansum-live-demo");
    ASSERT_TRUE(demo_error.empty()) << demo_error;
    services_ = new ServiceSet();
    // pocketsphinx, the fallback engine: its jobs take several seconds with quiet spells, which the
    // heartbeat check needs (Whisper, the default, ends a demo job in about two busy seconds, with
    // no second of silence for a heartbeat); it also keeps the fallback covered end to end.
    services_->extra_env = {{"EVENTS_HEARTBEAT_SECONDS", "1"},
                            {"EVENTS_POLL_MS", "200"},
                            {"ASR_ENGINE", "pocketsphinx"}};
    ASSERT_TRUE(services_->Start(
        {"discovery", "download", "audio_extraction", "transcription", "summarization"}));
  }
  static void TearDownTestSuite() {
    if (services_ != nullptr) {
      services_->Stop();
      std::error_code ec;
      fs::remove_all(services_->dir, ec);
    }
    delete services_;
    services_ = nullptr;
    if (demo_ != nullptr) {
      demo_->server.reset();
      std::error_code ec;
      fs::remove_all(demo_->dir, ec);
    }
    delete demo_;
    demo_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure() && services_ != nullptr) std::cerr << services_->Logs();
  }

  static std::string Submit(int max_videos) {
    auto api = services_->Api();
    const json req = {{"channel", demo_->FeedUrl()}, {"max_videos", max_videos}};
    auto r = api.Post("/jobs", req.dump(), "application/json");
    if (!r || r->status != 202) {
      ADD_FAILURE() << "POST /jobs failed: " << (r ? r->body : "no response");
      return "";
    }
    return json::parse(r->body).at("job_id").get<std::string>();
  }
  static json GetJob(const std::string& id) {
    auto r = services_->Api().Get("/jobs/" + id);
    if (!r || r->status != 200) return json();
    return json::parse(r->body);
  }
  static json WaitTerminal(const std::string& id) {
    json job;
    testing::WaitFor(
        [&] {
          job = GetJob(id);
          return job.is_object() && Terminal(job.value("state", ""));
        },
        std::chrono::minutes(5), std::chrono::milliseconds(300));
    return job;
  }

  // Runs the real `chansum` binary (stdout not a terminal: plain lines).
  static CliResult Cli(const std::vector<std::string>& args) {
    const fs::path err_file = services_->dir / ("cli-err-" + testing::RandomSuffix() + ".txt");
    std::vector<std::string> argv = {
        "/bin/sh",
        "-c",
        "exec \"$@\" 2>\"" + err_file.string() + "\"",
        "sh",
        "env",
        "CHANSUM_API=http://127.0.0.1:" + std::to_string(services_->api_port),
        std::string(CHANSUM_BIN_DIR) + "/chansum"};
    argv.insert(argv.end(), args.begin(), args.end());
    CliResult r;
    r.code = testing::RunCommand(argv, &r.out);
    std::ifstream in(err_file);
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
    return r;
  }

  // `chansum submit <demo feed> --max-videos N --watch`; the job id is its output's first line.
  static CliResult SubmitWatch(int max_videos, std::string* job_id) {
    auto r =
        Cli({"submit", demo_->FeedUrl(), "--max-videos", std::to_string(max_videos), "--watch"});
    std::istringstream lines(r.out);
    std::getline(lines, *job_id);
    return r;
  }

  static inline DemoChannel* demo_ = nullptr;
  static inline ServiceSet* services_ = nullptr;
};

TEST_F(LiveE2E, StreamGivesSnapshotChangesHeartbeatsAndEndsWithTheJob) {
  const auto job_id = Submit(3);
  ASSERT_FALSE(job_id.empty());
  StreamReader stream(services_->api_port, "/jobs/" + job_id + "/events");
  ASSERT_TRUE(stream.WaitEnd(std::chrono::minutes(5))) << "the stream did not end";
  EXPECT_EQ(stream.Status(), 200);
  EXPECT_EQ(stream.ContentType().rfind("text/event-stream", 0), 0u) << stream.ContentType();
  const auto events = stream.Events();
  ASSERT_GE(events.size(), 3u) << stream.Raw();

  // A snapshot first, exactly a GET /jobs/{id} document.
  EXPECT_EQ(events[0].type, "snapshot");
  const auto snapshot = json::parse(events[0].data);
  EXPECT_EQ(snapshot.at("job_id"), job_id);
  for (const char* key : {"channel", "state", "counts", "videos", "created_at", "trace_id"}) {
    EXPECT_TRUE(snapshot.contains(key)) << key;
  }

  // Change events with increasing ids; every video's path to `done` is visible.
  // Ids are change numbers in commit order: concurrent transactions (e.g. two stages' batches)
  // can commit a lower number after a higher one, so an id may be lower than the one before it,
  // but never for the same video, and no change comes twice.
  std::map<std::string, std::int64_t> last_id_of;  // video -> last id
  std::set<std::int64_t> video_ids;
  std::map<std::string, std::vector<std::string>> path;  // video -> "stage/state" in order
  for (const auto& e : events) {
    ASSERT_FALSE(e.id.empty()) << e.type;
    const auto id = std::stoll(e.id);
    if (e.type == "video") {
      EXPECT_TRUE(video_ids.insert(id).second) << "change " << id << " delivered twice";
      const auto video = json::parse(e.data).at("video_id").get<std::string>();
      EXPECT_GT(id, last_id_of.count(video) ? last_id_of[video] : -1)
          << "ids of one video must not go back";
      last_id_of[video] = id;
    }
    if (e.type == "video") {
      const auto d = json::parse(e.data);
      EXPECT_EQ(d.at("job_id"), job_id);
      for (const char* key : {"video_id", "title", "stage", "state", "error", "error_class",
                              "attempts", "updated_at"}) {
        EXPECT_TRUE(d.contains(key)) << key << " in " << e.data;
      }
      path[d.at("video_id").get<std::string>()].push_back(d.at("stage").get<std::string>() + "/" +
                                                          d.at("state").get<std::string>());
    }
  }
  // The last event is the terminal `job` event with counts as GET /jobs/{id} has them.
  const auto& last = events.back();
  ASSERT_EQ(last.type, "job") << stream.Raw();
  const auto final_job = json::parse(last.data);
  const auto job = GetJob(job_id);
  EXPECT_EQ(final_job.at("state"), job.at("state"));
  EXPECT_TRUE(Terminal(final_job.at("state").get<std::string>()));
  EXPECT_EQ(final_job.at("counts"), job.at("counts"));
  EXPECT_EQ(final_job.at("video_count"), job.at("video_count"));
  // Every video that ended done was seen running a long stage, waiting for summarization and
  // ending done. (Summarization with the embedded summarizer is a short stage: a batch is claimed
  // and recorded in one transaction, so its videos go from pending to done with no `running` in
  // between that anyone could see.)
  for (const auto& v : job.at("videos")) {
    const auto& seen = path[v.at("video_id").get<std::string>()];
    ASSERT_FALSE(seen.empty()) << "no events for " << v.at("video_id");
    EXPECT_EQ(seen.back(),
              v.at("stage").get<std::string>() + "/" + v.at("state").get<std::string>());
    if (v.at("state") == "done") {
      for (const char* s : {"download/running", "summarization/pending", "summarization/done"}) {
        EXPECT_NE(std::find(seen.begin(), seen.end(), s), seen.end())
            << v.at("video_id") << " never showed " << s;
      }
    }
  }
  // EVENTS_HEARTBEAT_SECONDS=1 and the job takes several seconds.
  EXPECT_GE(stream.Heartbeats(), 1) << stream.Raw();

  // Resume after a dropped connection: only what came after that id, no snapshot, same end.
  std::size_t mid = events.size() / 2;
  while (mid < events.size() && events[mid].type == "snapshot") ++mid;
  ASSERT_LT(mid, events.size() - 1);
  const std::string resume_from = events[mid].id;
  StreamReader resumed(services_->api_port, "/jobs/" + job_id + "/events",
                       {{"Last-Event-ID", resume_from}});
  ASSERT_TRUE(resumed.WaitEnd(std::chrono::seconds(30)));
  const auto after = resumed.Events();
  ASSERT_FALSE(after.empty()) << resumed.Raw();
  for (const auto& e : after) {
    EXPECT_NE(e.type, "snapshot");
    EXPECT_GE(std::stoll(e.id), std::stoll(resume_from));
  }
  std::size_t expected_after = 0;  // events (other than synthesized job ones) after the id
  for (const auto& e : events) {
    if (e.type == "video" && std::stoll(e.id) > std::stoll(resume_from)) ++expected_after;
  }
  EXPECT_EQ(static_cast<std::size_t>(std::count_if(
                after.begin(), after.end(), [](const auto& e) { return e.type == "video"; })),
            expected_after)
      << resumed.Raw();
  EXPECT_EQ(after.back().type, "job");
  EXPECT_EQ(json::parse(after.back().data).at("state"), job.at("state"));

  // The same through ?last_event_id=; an id from nowhere gets a snapshot first.
  StreamReader by_param(services_->api_port,
                        "/jobs/" + job_id + "/events?last_event_id=" + resume_from);
  ASSERT_TRUE(by_param.WaitEnd(std::chrono::seconds(30)));
  ASSERT_FALSE(by_param.Events().empty());
  EXPECT_NE(by_param.Events().front().type, "snapshot");
  StreamReader unknown_id(services_->api_port, "/jobs/" + job_id + "/events",
                          {{"Last-Event-ID", "999999999999"}});
  ASSERT_TRUE(unknown_id.WaitEnd(std::chrono::seconds(30)));
  ASSERT_FALSE(unknown_id.Events().empty());
  EXPECT_EQ(unknown_id.Events().front().type, "snapshot");
  EXPECT_EQ(unknown_id.Events().back().type, "job");

  // Errors are JSON as everywhere else.
  auto api = services_->Api();
  auto missing = api.Get("/jobs/00000000-0000-0000-0000-000000000000/events");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body).at("error").at("code"), "job_not_found");
  auto bad = api.Get("/jobs/not-a-uuid/events");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST_F(LiveE2E, CancelStopsTheJobKeepsFinishedVideosAndEndsTheStream) {
  const auto job_id = Submit(20);
  ASSERT_FALSE(job_id.empty());
  StreamReader stream(services_->api_port, "/jobs/" + job_id + "/events");
  // Cancel once the first video is done: others are then queued or in flight.
  json job;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        job = GetJob(job_id);
        return job.is_object() && job.at("counts").at("by_state").at("done").get<int>() >= 1;
      },
      std::chrono::minutes(4), std::chrono::milliseconds(100)))
      << job.dump(2);
  auto cancel = Cli({"cancel", job_id});
  ASSERT_EQ(cancel.code, 0) << cancel.out << cancel.err;
  EXPECT_EQ(cancel.out, "job " + job_id + " cancelled\n");

  ASSERT_TRUE(stream.WaitEnd(std::chrono::seconds(30))) << "stream did not end after cancel";
  const auto events = stream.Events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "job");
  EXPECT_EQ(json::parse(events.back().data).at("state"), "cancelled");

  job = GetJob(job_id);
  EXPECT_EQ(job.at("state"), "cancelled");
  EXPECT_FALSE(job.at("finished_at").is_null());
  int done = 0;
  int skipped = 0;
  for (const auto& v : job.at("videos")) {
    const auto state = v.at("state").get<std::string>();
    if (state == "done") {
      ++done;
    } else if (state == "skipped") {
      ++skipped;
      EXPECT_EQ(v.at("last_error"), "cancelled") << v.dump();
    } else {
      EXPECT_EQ(state, "failed") << "unfinished video left after cancel: " << v.dump();
    }
  }
  EXPECT_GE(done, 1);
  EXPECT_GE(skipped, 1) << job.dump(2);
  // The stream says the same: a video skipped by the cancel has the error "cancelled" and no
  // skip_reason (as in GET /jobs/{id}); `chansum show` gives that as the reason.
  int skipped_events = 0;
  for (const auto& e : events) {
    if (e.type != "video") continue;
    const auto d = json::parse(e.data);
    if (d.at("state") != "skipped") continue;
    ++skipped_events;
    EXPECT_EQ(d.at("error"), "cancelled") << e.data;
    ASSERT_TRUE(d.contains("skip_reason")) << e.data;
    EXPECT_TRUE(d.at("skip_reason").is_null()) << e.data;
  }
  EXPECT_GE(skipped_events, 1) << stream.Raw();
  auto show = Cli({"show", job_id});
  EXPECT_EQ(show.code, 0) << show.err;
  for (const auto& v : job.at("videos")) {
    if (v.at("state") == "skipped") {
      EXPECT_TRUE(v.at("skip_reason").is_null()) << v.dump();
    }
  }
  EXPECT_NE(show.out.find("skipped (cancelled)"), std::string::npos) << show.out;

  // Nothing moves afterwards: queued commands are skipped, in-flight work stops.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  const auto later = GetJob(job_id);
  EXPECT_EQ(later.at("videos"), job.at("videos"));
  EXPECT_EQ(later.at("state"), "cancelled");
  const auto logs = services_->Logs();
  EXPECT_TRUE(logs.find("job_closed") != std::string::npos ||
              logs.find("job cancelled") != std::string::npos)
      << "no stage skipped or stopped work of the cancelled job";

  // Cancel again: 409 (CLI exit 3); unknown job: 404; bad id: 400.
  auto api = services_->Api();
  auto again = api.Post("/jobs/" + job_id + "/cancel", "", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
  EXPECT_EQ(json::parse(again->body).at("error").at("code"), "job_finished");
  auto cli_again = Cli({"cancel", job_id});
  EXPECT_EQ(cli_again.code, 3);
  EXPECT_NE(cli_again.err.find("job_finished"), std::string::npos) << cli_again.err;
  auto unknown =
      api.Post("/jobs/00000000-0000-0000-0000-000000000000/cancel", "", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto bad = api.Post("/jobs/nope/cancel", "", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);

  // Watching a cancelled job ends at once with its exit code.
  auto watch = Cli({"watch", job_id});
  EXPECT_EQ(watch.code, 7) << watch.out << watch.err;
  EXPECT_NE(watch.out.find("job " + job_id + " cancelled"), std::string::npos) << watch.out;
}

TEST_F(LiveE2E, AReusedVideosSkipReasonReachesTheStreamAndTheCli) {
  // A first job processes the first entries; the same channel again reuses those that ended done.
  const auto first_id = Submit(3);
  ASSERT_FALSE(first_id.empty());
  const auto first = WaitTerminal(first_id);
  ASSERT_TRUE(Terminal(first.value("state", ""))) << first.dump(2);
  std::set<std::string> reused;
  for (const auto& v : first.at("videos")) {
    if (v.at("state") == "done") reused.insert(v.at("video_id").get<std::string>());
  }
  ASSERT_FALSE(reused.empty()) << first.dump(2);
  // A feed position before the second job exists (the finished first job's snapshot id):
  // resuming there replays every change of the second job, whenever discovery ran.
  StreamReader before(services_->api_port, "/jobs/" + first_id + "/events");
  ASSERT_TRUE(before.WaitEnd(std::chrono::seconds(30)));
  ASSERT_FALSE(before.Events().empty()) << before.Raw();
  const std::string position = before.Events().front().id;

  std::string job_id;
  auto submit = SubmitWatch(3, &job_id);
  ASSERT_EQ(job_id.size(), 36u) << submit.out << submit.err;
  const auto job = WaitTerminal(job_id);
  for (const auto& v : job.at("videos")) {
    const std::string id = v.at("video_id");
    EXPECT_EQ(v.at("skip_reason").is_string(), reused.count(id) == 1) << v.dump();
  }

  StreamReader stream(services_->api_port, "/jobs/" + job_id + "/events",
                      {{"Last-Event-ID", position}});
  ASSERT_TRUE(stream.WaitEnd(std::chrono::seconds(30))) << stream.Raw();
  std::map<std::string, json> last_change;  // video -> its last video event
  for (const auto& e : stream.Events()) {
    EXPECT_NE(e.type, "snapshot") << stream.Raw();
    if (e.type != "video") continue;
    const auto d = json::parse(e.data);
    ASSERT_TRUE(d.contains("skip_reason")) << e.data;
    last_change[d.at("video_id").get<std::string>()] = d;
  }
  for (const auto& id : reused) {
    ASSERT_TRUE(last_change.count(id)) << id << " has no video event:\n" << stream.Raw();
    const auto& d = last_change[id];
    EXPECT_EQ(d.at("state"), "skipped") << d.dump();
    EXPECT_EQ(d.at("stage"), "summarization") << d.dump();
    EXPECT_EQ(d.at("skip_reason"), "already processed") << d.dump();
  }
  for (const auto& [id, d] : last_change) {
    if (reused.count(id) == 0) {
      EXPECT_TRUE(d.at("skip_reason").is_null()) << d.dump();
    }
  }

  // `submit --watch` printed the reason with each reused video (from the stream's events), and
  // `show` prints it from GET /jobs/{id}.
  auto show = Cli({"show", job_id});
  EXPECT_EQ(show.code, 0) << show.err;
  // The id column is as wide as the longest id of the job (feed keys are long), ids are whole.
  for (const auto& id : reused) {
    const std::regex line(id + " +summarization     skipped \\(already processed\\)");
    EXPECT_TRUE(std::regex_search(submit.out, line)) << id << " missing:\n" << submit.out;
    EXPECT_TRUE(std::regex_search(show.out, line)) << id << " missing:\n" << show.out;
  }
}

TEST_F(LiveE2E, CliSubmitWatchShowJobsTranscriptSummaryAndErrors) {
  std::string job_id;
  auto submit = SubmitWatch(2, &job_id);
  ASSERT_EQ(job_id.size(), 36u) << submit.out << submit.err;
  const auto job = WaitTerminal(job_id);
  const std::string state = job.at("state");
  const int expected_code = state == "completed" ? 0 : state == "completed_with_errors" ? 6 : 5;
  EXPECT_EQ(submit.code, expected_code) << submit.out << submit.err;
  // Plain lines (stdout is a file): the snapshot line, a line per video change, the summary.
  EXPECT_EQ(submit.out.find("\x1b["), std::string::npos) << "escape codes in plain output";
  std::string done_video;
  for (const auto& v : job.at("videos")) {
    const std::string id = v.at("video_id");
    EXPECT_NE(submit.out.find(id), std::string::npos) << id << " missing:\n" << submit.out;
    if (v.at("state") == "done") done_video = id;
  }
  EXPECT_NE(submit.out.find("summarization     done"), std::string::npos) << submit.out;
  EXPECT_NE(submit.out.find("job " + job_id + " " + state + ": "), std::string::npos) << submit.out;
  ASSERT_FALSE(done_video.empty()) << job.dump(2);

  auto show = Cli({"show", job_id});
  EXPECT_EQ(show.code, 0) << show.err;
  for (const char* s : {"download", "audio_extraction", "transcription", "summarization"}) {
    EXPECT_NE(show.out.find(s), std::string::npos) << show.out;
  }
  EXPECT_NE(show.out.find(done_video), std::string::npos) << show.out;
  auto show_json = Cli({"show", job_id, "--json"});
  EXPECT_EQ(json::parse(show_json.out).at("job_id"), job_id);

  auto jobs = Cli({"jobs", "--limit", "50"});
  EXPECT_EQ(jobs.code, 0) << jobs.err;
  EXPECT_NE(jobs.out.find(job_id), std::string::npos) << jobs.out;

  auto transcript_json = Cli({"transcript", done_video, "--format", "json"});
  ASSERT_EQ(transcript_json.code, 0) << transcript_json.err;
  EXPECT_FALSE(json::parse(transcript_json.out).at("text").get<std::string>().empty());
  // The default is the readable text the API serves as txt (sentences, capitals), as it is.
  auto transcript = Cli({"transcript", done_video});
  EXPECT_EQ(transcript.code, 0) << transcript.err;
  auto txt = services_->Api().Get("/videos/" + done_video + "/transcript?format=txt");
  ASSERT_TRUE(txt && txt->status == 200);
  ASSERT_FALSE(txt->body.empty());
  EXPECT_NE(transcript.out.find(txt->body.substr(0, txt->body.find_last_not_of('\n') + 1)),
            std::string::npos)
      << transcript.out << "\n-- API txt --\n"
      << txt->body;
  auto summary = Cli({"summary", done_video});
  EXPECT_EQ(summary.code, 0) << summary.err;
  EXPECT_FALSE(summary.out.empty());
  auto summary_json = Cli({"summary", done_video, "--format", "json"});
  EXPECT_EQ(summary_json.code, 0);
  EXPECT_FALSE(json::parse(summary_json.out).at("summary").get<std::string>().empty());

  // Bad input: one clear line on stderr and a distinct exit code.
  auto bad_channel = Cli({"submit", "-rf"});
  EXPECT_EQ(bad_channel.code, 2) << "an option-like channel is a usage error";
  auto rejected = Cli({"submit", "ftp://example.com/feed"});
  EXPECT_EQ(rejected.code, 3) << rejected.err;
  EXPECT_NE(rejected.err.find("invalid_channel"), std::string::npos) << rejected.err;
  EXPECT_EQ(std::count(rejected.err.begin(), rejected.err.end(), '\n'), 1) << rejected.err;
  auto too_many = Cli({"submit", "@demo", "--max-videos", "100000"});
  EXPECT_EQ(too_many.code, 3) << too_many.err;
  auto unknown_job = Cli({"show", "00000000-0000-0000-0000-000000000000"});
  EXPECT_EQ(unknown_job.code, 3);
  EXPECT_NE(unknown_job.err.find("job_not_found"), std::string::npos) << unknown_job.err;
  auto no_transcript = Cli({"transcript", "no-such-video"});
  EXPECT_EQ(no_transcript.code, 3) << no_transcript.err;
  auto unreachable = Cli({"--api", "http://127.0.0.1:1", "jobs"});
  EXPECT_EQ(unreachable.code, 4) << unreachable.err;
}

}  // namespace
}  // namespace chansum::e2e
