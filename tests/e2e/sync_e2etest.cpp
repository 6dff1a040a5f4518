// End to end through the HTTP API (issue 6): on the offline demo channel, videos with subtitles
// are transcribed from their captions (audio stages skipped, source "captions") and the others by
// ASR; the finished job has a digest (JSON and Markdown), every output format and a tar export;
// submitting the channel again reuses every finished video ("already processed") and retries only
// the one that failed; the filters published_after / max_duration_s narrow what is discovered.
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "e2e_env.hpp"

namespace chansum::e2e {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json Scripts() {
  std::ifstream in(fs::path(CHANSUM_SOURCE_DIR) / "tests/fixtures/demo_channel/scripts.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class SyncE2E : public DemoPipelineTest {
 protected:
  SyncE2E()
      : DemoPipelineTest(
            "chansum-sync-demo",
            {"discovery", "download", "audio_extraction", "transcription", "summarization"}, true) {
  }

  // Submits a job and waits until it ends; returns GET /jobs/{id}.
  json RunJob(const json& request, std::chrono::seconds limit = std::chrono::seconds(480)) {
    auto api = services_.Api();
    auto created = api.Post("/jobs", request.dump(), "application/json");
    EXPECT_TRUE(created);
    if (!created) return json();
    EXPECT_EQ(created->status, 202) << created->body;
    const auto job_id = json::parse(created->body).value("job_id", "");
    json job;
    const bool finished =
        e2e::WaitJobEnded(api, job_id, limit, std::chrono::milliseconds(500), &job);
    EXPECT_TRUE(finished) << "job did not finish: " << job.dump(2) << "\n" << services_.Logs();
    return job;
  }
};

TEST_F(SyncE2E, CaptionsFirstDigestOutputsAndIncrementalSync) {
  const auto scripts = Scripts();
  std::map<std::string, json> by_id;
  std::set<std::string> captioned;
  for (const auto& s : scripts.at("videos")) {
    by_id[s.at("id")] = s;
    if (!s.value("captions", "").empty()) captioned.insert(s.at("id"));
  }
  ASSERT_GE(captioned.size(), 2U) << "the demo channel must carry captions on some videos";
  ASSERT_LT(captioned.size(), by_id.size()) << "and leave some to ASR";
  const std::size_t videos = by_id.size();
  const std::size_t missing = scripts.at("missing").size();

  // ---------------------------------------------------------------- first run
  const json job = RunJob({{"channel", demo_.base_url + "/feed.xml"}, {"max_videos", 20}});
  ASSERT_EQ(job.value("state", ""), "completed_with_errors") << job.dump(2);
  const auto job_id = job.at("job_id").get<std::string>();
  ASSERT_EQ(job.at("videos").size(), videos + missing);
  auto api = services_.Api();
  // A feed item's video_id is its source-scoped key ("feed:<guid>:<hash>", issue 18 §3.6); the
  // script's id is the item's guid, shown as source_id.
  std::map<std::string, std::string> key_of;
  for (const auto& v : job.at("videos")) {
    const auto vid = v.at("source_id").get<std::string>();
    const auto key = v.at("video_id").get<std::string>();
    EXPECT_EQ(v.at("source"), "feed") << v.dump();
    EXPECT_EQ(key.rfind("feed:" + vid + ":", 0), 0U) << v.dump();
    key_of[vid] = key;
    if (!by_id.count(vid)) {
      EXPECT_EQ(v.at("state"), "failed") << v.dump();
      continue;
    }
    ASSERT_EQ(v.at("state"), "done") << v.dump();
    auto tr = api.Get("/videos/" + key + "/transcript");
    ASSERT_TRUE(tr);
    ASSERT_EQ(tr->status, 200) << tr->body;
    const auto transcript = json::parse(tr->body);
    const auto text = Lower(transcript.at("text").get<std::string>());
    for (const auto& word : by_id[vid].at("key_words")) {
      EXPECT_NE(text.find(Lower(word.get<std::string>())), std::string::npos)
          << vid << ": " << word << " missing from " << text;
    }
    if (captioned.count(vid)) {
      EXPECT_EQ(transcript.at("source"), "captions") << vid;
      EXPECT_EQ(transcript.at("language"), "en") << vid;
      for (const char* stage : {"audio_extraction", "transcription"}) {
        EXPECT_EQ(v.at("timings").at(stage).value("skipped", false), true) << vid << " " << stage;
        EXPECT_EQ(v.at("timings").at(stage).value("reason", ""), "captions") << vid;
      }
      EXPECT_EQ(v.at("skipped_stages"), json({"audio_extraction", "transcription"})) << vid;
      // Rolling automatic captions come back with each line once.
      std::multiset<std::string> lines;
      for (const auto& seg : transcript.at("segments")) lines.insert(seg.at("text"));
      for (const auto& l : lines) EXPECT_EQ(lines.count(l), 1U) << vid << ": repeated " << l;
      EXPECT_EQ(text.find("<c>"), std::string::npos) << text;
    } else {
      EXPECT_EQ(transcript.at("source"), "asr") << vid;
      EXPECT_TRUE(v.at("timings").at("transcription").contains("ms")) << v.dump();
      EXPECT_TRUE(v.at("skipped_stages").empty()) << v.dump();
    }
  }

  // ---------------------------------------------------------------- outputs
  const std::string some_id = *captioned.begin();
  const std::string some = key_of.at(some_id);
  struct Want {
    std::string format;
    std::string content_type;
    std::string starts;
  };
  for (const auto& w : std::vector<Want>{{"txt", "text/plain", ""},
                                         {"srt", "application/x-subrip", "1\n00:00:0"},
                                         {"vtt", "text/vtt", "WEBVTT\n"},
                                         {"json", "application/json", "{"}}) {
    auto r = api.Get("/videos/" + some + "/transcript?format=" + w.format);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << w.format << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type").rfind(w.content_type, 0), 0U)
        << w.format << ": " << r->get_header_value("Content-Type");
    EXPECT_EQ(r->body.rfind(w.starts, 0), 0U) << w.format << ": " << r->body.substr(0, 80);
  }
  auto md = api.Get("/videos/" + some + "/summary?format=md");
  ASSERT_TRUE(md);
  EXPECT_EQ(md->status, 200);
  EXPECT_EQ(md->get_header_value("Content-Type").rfind("text/markdown", 0), 0U);
  // Titled with the video's title, not its id.
  const auto md_title = md->body.substr(0, md->body.find('\n'));
  EXPECT_EQ(md_title.rfind("# ", 0), 0U) << md->body;
  EXPECT_NE(md_title.find(by_id.at(some_id).at("title").get<std::string>()), std::string::npos)
      << md->body;
  EXPECT_EQ(md_title.find(some), std::string::npos) << md->body;
  auto bad = api.Get("/videos/" + some + "/transcript?format=docx");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);

  // ---------------------------------------------------------------- digest
  json digest;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = api.Get("/jobs/" + job_id + "/digest");
        if (!r || r->status != 200) return false;
        digest = json::parse(r->body);
        return true;
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(digest.at("job_id"), job_id);
  EXPECT_EQ(digest.at("videos").size(), videos + missing);
  EXPECT_EQ(digest.at("summarized"), videos);
  // Themes recur: each is in two or more videos' summaries, and none at all is said so.
  for (const auto& t : digest.at("themes")) EXPECT_GE(t.at("videos").get<int>(), 2) << t.dump();
  EXPECT_EQ(digest.at("themes").empty(), digest.contains("themes_note")) << digest.dump(2);
  auto digest_md = api.Get("/jobs/" + job_id + "/digest?format=md");
  ASSERT_TRUE(digest_md);
  EXPECT_EQ(digest_md->status, 200);
  EXPECT_EQ(digest_md->get_header_value("Content-Type").rfind("text/markdown", 0), 0U);
  EXPECT_NE(digest_md->body.find("## Recurring themes"), std::string::npos) << digest_md->body;
  for (const auto& [vid, s] : by_id) {
    EXPECT_NE(digest_md->body.find(s.at("title").get<std::string>()), std::string::npos) << vid;
  }

  // ---------------------------------------------------------------- export
  auto tar = api.Get("/jobs/" + job_id + "/export");
  ASSERT_TRUE(tar);
  ASSERT_EQ(tar->status, 200) << tar->body;
  EXPECT_EQ(tar->get_header_value("Content-Type"), "application/x-tar");
  EXPECT_NE(tar->get_header_value("Content-Disposition").find("attachment"), std::string::npos);
  const auto extract = services_.dir / "export";
  fs::create_directories(extract);
  {
    std::ofstream f(extract / "job.tar", std::ios::binary);
    f << tar->body;
  }
  std::string tar_out;
  ASSERT_EQ(testing::RunCommand(
                {"tar", "-xf", (extract / "job.tar").string(), "-C", extract.string()}, &tar_out),
            0)
      << tar_out;
  const auto root = extract / ("chansum-" + job_id.substr(0, 8));
  ASSERT_TRUE(fs::is_regular_file(root / "digest.md")) << root;
  std::size_t md_files = 0;
  for (const auto& e : fs::directory_iterator(root / "videos")) {
    if (e.path().extension() == ".md") ++md_files;
  }
  EXPECT_EQ(md_files, videos + missing);

  // ---------------------------------------------------------------- incremental sync
  const auto started = std::chrono::steady_clock::now();
  const json again = RunJob({{"channel", demo_.base_url + "/feed.xml"}, {"max_videos", 20}},
                            std::chrono::seconds(120));
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(again.value("state", ""), "completed_with_errors") << again.dump(2);
  int skipped = 0;
  for (const auto& v : again.at("videos")) {
    const auto vid = v.at("source_id").get<std::string>();
    EXPECT_EQ(v.at("video_id"), key_of[vid]) << "the same feed item keeps its key";
    if (by_id.count(vid)) {
      EXPECT_EQ(v.at("state"), "skipped") << v.dump();
      EXPECT_EQ(v.at("skip_reason"), "already processed") << v.dump();
      EXPECT_FALSE(v.at("timings").contains("download")) << "a reused video ran a stage";
      ++skipped;
    } else {
      // Failed before: tried again (and fails again, its media does not exist).
      EXPECT_EQ(v.at("state"), "failed") << v.dump();
      EXPECT_TRUE(v.at("timings").contains("download")) << v.dump();
    }
  }
  EXPECT_EQ(skipped, static_cast<int>(videos));
  EXPECT_LT(took, std::chrono::seconds(90)) << "reusing results must not transcribe again";
  auto again_digest = api.Get("/jobs/" + again.at("job_id").get<std::string>() + "/digest");
  ASSERT_TRUE(again_digest);
  EXPECT_EQ(again_digest->status, 200);
  EXPECT_EQ(json::parse(again_digest->body).at("summarized"), videos) << "reused summaries count";

  // ---------------------------------------------------------------- filters
  // published_after: the feed's dates are in scripts.json; max_duration_s: the clips are 10-20 s.
  const std::string after = "2024-04-01";
  std::size_t newer = 0;
  for (const auto* list : {&scripts.at("videos"), &scripts.at("missing")}) {
    for (const auto& s : *list) newer += s.at("published").get<std::string>() >= after ? 1 : 0;
  }
  const json filtered =
      RunJob({{"channel", demo_.base_url + "/feed.xml"}, {"published_after", after}},
             std::chrono::seconds(120));
  EXPECT_EQ(filtered.at("video_count"), newer) << filtered.dump(2);
  for (const auto& v : filtered.at("videos")) {
    EXPECT_GE(v.at("published_at").get<std::string>(), after) << v.dump();
  }
  const json none = RunJob({{"channel", demo_.base_url + "/feed.xml"}, {"max_duration_s", 1}},
                           std::chrono::seconds(120));
  // Entries without a known duration (the missing one) pass the filter; every real clip is longer.
  EXPECT_EQ(none.at("video_count"), missing) << none.dump(2);
  for (const auto& v : none.at("videos")) {
    EXPECT_FALSE(by_id.count(v.at("source_id").get<std::string>())) << v.dump();
  }
}

// Issue 18 §3.6: a feed's <guid> is chosen by whoever writes the feed. Feed B lists an item with
// the guid of feed A's item but other media (both feeds on the same host): B's video must be
// processed (not skipped as "already processed") and serve B's transcript, A's must stay A's; the
// same feed listed again still reuses its results.
TEST_F(SyncE2E, FeedGuidsAreScopedBySourceAndCannotPoisonAnotherFeed) {
  const auto scripts = Scripts();
  std::map<std::string, json> by_id;
  for (const auto& s : scripts.at("videos")) by_id[s.at("id")] = s;
  // Two clips without captions (ASR), so each transcript holds its own clip's words.
  const std::string a_clip = "bread-yeast";
  const std::string b_clip = "volcanoes";
  ASSERT_TRUE(by_id.count(a_clip) && by_id.count(b_clip));
  ASSERT_TRUE(by_id[a_clip].value("captions", "").empty());
  ASSERT_TRUE(by_id[b_clip].value("captions", "").empty());
  auto write_feed = [&](const std::string& name, const std::string& clip) {
    std::ofstream f(demo_.dir / name);
    f << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<rss version=\"2.0\" xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\">\n"
      << "<channel><title>Feed " << name << "</title><link>@BASE_URL@/</link>"
      << "<description>d</description>\n<item><title>Bees " << name << "</title>"
      << "<link>@BASE_URL@/media/" << clip << ".mp4</link>"
      << "<guid isPermaLink=\"false\">bees</guid>"
      << "<pubDate>Mon, 08 Jan 2024 09:00:00 +0000</pubDate><description>d</description>"
      << "<enclosure url=\"@BASE_URL@/media/" << clip << ".mp4\" type=\"video/mp4\" length=\""
      << fs::file_size(demo_.dir / "media" / (clip + ".mp4")) << "\"/></item>\n"
      << "</channel></rss>\n";
    ASSERT_TRUE(f.good()) << name;
  };
  write_feed("feed-a.xml", a_clip);
  write_feed("feed-b.xml", b_clip);
  auto api = services_.Api();
  auto only_video = [](const json& job) {
    EXPECT_EQ(job.at("videos").size(), 1U) << job.dump(2);
    return job.at("videos").empty() ? json::object() : job.at("videos").at(0);
  };
  auto transcript_text = [&](const std::string& key) {
    auto r = api.Get("/videos/" + key + "/transcript?format=txt");
    EXPECT_TRUE(r);
    if (!r) return std::string();
    EXPECT_EQ(r->status, 200) << key << ": " << r->body;
    return Lower(r->body);
  };
  auto has_words = [&](const std::string& text, const std::string& clip) {
    int found = 0;
    for (const auto& w : by_id[clip].at("key_words")) {
      found += text.find(Lower(w.get<std::string>())) != std::string::npos ? 1 : 0;
    }
    return found >= 3;  // ASR may miss a word or two
  };

  const json a = RunJob({{"channel", demo_.base_url + "/feed-a.xml"}, {"max_videos", 5}});
  ASSERT_EQ(a.value("state", ""), "completed") << a.dump(2);
  const json va = only_video(a);
  ASSERT_EQ(va.value("state", ""), "done") << va.dump();
  EXPECT_EQ(va.value("source_id", ""), "bees");
  EXPECT_EQ(va.value("source", ""), "feed");
  const std::string key_a = va.at("video_id");
  EXPECT_EQ(key_a.rfind("feed:bees:", 0), 0U) << key_a;

  const json b = RunJob({{"channel", demo_.base_url + "/feed-b.xml"}, {"max_videos", 5}});
  ASSERT_EQ(b.value("state", ""), "completed") << b.dump(2);
  const json vb = only_video(b);
  EXPECT_EQ(vb.value("state", ""), "done") << "feed B's video was not processed: " << vb.dump();
  EXPECT_TRUE(vb.at("skip_reason").is_null()) << vb.dump();
  EXPECT_TRUE(vb.at("timings").contains("download")) << vb.dump();
  EXPECT_EQ(vb.value("source_id", ""), "bees");
  const std::string key_b = vb.at("video_id");
  EXPECT_NE(key_b, key_a) << "two sources, one key";

  const auto text_a = transcript_text(key_a);
  const auto text_b = transcript_text(key_b);
  EXPECT_TRUE(has_words(text_a, a_clip)) << "A's transcript: " << text_a;
  EXPECT_FALSE(has_words(text_a, b_clip)) << "A's transcript: " << text_a;
  EXPECT_TRUE(has_words(text_b, b_clip)) << "B's transcript is not B's: " << text_b;
  EXPECT_FALSE(has_words(text_b, a_clip)) << "B was served A's transcript: " << text_b;

  // The same feed again: its item keeps its key and reuses its results.
  const json again = RunJob({{"channel", demo_.base_url + "/feed-a.xml"}, {"max_videos", 5}},
                            std::chrono::seconds(120));
  const json vagain = only_video(again);
  EXPECT_EQ(vagain.value("video_id", ""), key_a);
  EXPECT_EQ(vagain.value("state", ""), "skipped") << vagain.dump();
  EXPECT_EQ(vagain.value("skip_reason", ""), "already processed") << vagain.dump();
}

}  // namespace
}  // namespace chansum::e2e
