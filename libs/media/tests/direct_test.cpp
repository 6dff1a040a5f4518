// DirectDownload (libcurl) against an in-process HTTP server on 127.0.0.1. Names resolve through
// a static table (no DNS); refused destinations are 169.254.169.254 (never connected: the check
// refuses before a socket exists) and a loopback "trap" port whose accept queue must stay empty.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "chansum/media/direct.hpp"
#include "test_media.hpp"

namespace chansum::media {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::TempDir;

std::string RandomBytes(std::size_t n) {
  std::mt19937 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A listening socket nobody accepts on: a connection attempt would sit in its accept queue.
class Trap {
 public:
  Trap() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    (void)::listen(fd_, 16);
    socklen_t len = sizeof a;
    (void)::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    (void)::fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~Trap() { ::close(fd_); }
  [[nodiscard]] int Port() const { return port_; }
  // Connections that reached the port.
  [[nodiscard]] int Connections() const {
    int n = 0;
    while (true) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) break;
      ::close(c);
      ++n;
    }
    return n;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class MediaServer {
 public:
  explicit MediaServer(int trap_port) : body_(RandomBytes(200000)) {
    server_.Get("/file.mp4", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_header("ETag", "\"v1\"");
      res.set_content(body_, "video/mp4");
    });
    // The first request breaks after half the body; later ones serve it (ranges too).
    server_.Get("/cut.mp4", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_header("ETag", "\"v1\"");
      if (cuts_++ == 0) {
        res.set_content_provider(body_.size(), "video/mp4",
                                 [this](std::size_t, std::size_t, httplib::DataSink& sink) {
                                   sink.write(body_.data(), body_.size() / 2);
                                   return false;  // the connection is closed here
                                 });
        return;
      }
      res.set_content(body_, "video/mp4");
    });
    server_.Get("/big.mp4", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_content(body_, "video/mp4");
    });
    // No Content-Length: the limit is found while receiving.
    server_.Get("/big-chunked.mp4", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_chunked_content_provider("video/mp4", [this](std::size_t, httplib::DataSink& sink) {
        for (std::size_t off = 0; off < body_.size(); off += 10000) {
          if (!sink.write(body_.data() + off, std::min<std::size_t>(10000, body_.size() - off))) {
            return false;
          }
        }
        sink.done();
        return true;
      });
    });
    server_.Get("/page", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_content("<html><body>a video page</body></html>", "text/html; charset=utf-8");
    });
    server_.Get("/to-file", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_redirect("/file.mp4");
    });
    server_.Get("/to-metadata", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_redirect("http://metadata.test/latest/meta-data/");
    });
    server_.Get("/to-trap", [this, trap_port](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_redirect("http://127.0.0.1:" + std::to_string(trap_port) + "/x.mp4");
    });
    server_.Get("/to-trap-name", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_redirect("http://trap.test/x.mp4");
    });
    server_.Get("/to-ftp", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_redirect("ftp://127.0.0.1/x.mp4");
    });
    server_.Get("/loop", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_redirect("/loop");
    });
    server_.Get(R"(/status/(\d+)\.mp4)",
                [this](const httplib::Request& req, httplib::Response& res) {
                  Record(req);
                  res.status = std::stoi(req.matches[1]);
                  res.set_content("no", "text/plain");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) std::this_thread::sleep_for(5ms);
  }
  ~MediaServer() {
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  [[nodiscard]] int Port() const { return port_; }
  [[nodiscard]] const std::string& Body() const { return body_; }
  [[nodiscard]] std::vector<std::string> Ranges() {
    std::lock_guard lock(mu_);
    return ranges_;
  }
  [[nodiscard]] int Requests() {
    std::lock_guard lock(mu_);
    return static_cast<int>(ranges_.size());
  }

 private:
  void Record(const httplib::Request& req) {
    std::lock_guard lock(mu_);
    ranges_.push_back(req.get_header_value("Range"));
  }

  httplib::Server server_;
  std::string body_;
  std::atomic<int> cuts_{0};
  std::mutex mu_;
  std::vector<std::string> ranges_;  // the Range header of every request ("" for none)
  int port_ = 0;
  std::thread thread_;
};

class DirectDownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<MediaServer>(trap_.Port());
    ASSERT_GT(server_->Port(), 0);
    // Only the media server's port is allow-listed; the trap port is not.
    auto allow = net::AllowList::Parse("127.0.0.1:" + std::to_string(server_->Port()));
    ASSERT_TRUE(allow.ok());
    std::map<std::string, std::vector<net::IpAddress>> hosts = {
        {"metadata.test", {net::IpAddress::V4(0xa9fea9fe)}},  // 169.254.169.254
        {"media.test", {net::IpAddress::V4(0x7f000001)}},
        {"trap.test", {net::IpAddress::V4(0x7f000001)}},
    };
    policy_ = net::DestinationPolicy(*allow, net::StaticResolver(hosts, nullptr));
    options_.timeout = 30s;
    options_.connect_timeout = 5s;
    options_.stall_timeout = 5s;
  }

  Result<DownloadResult> Fetch(const std::string& url, const std::string& id = "v1") {
    return DirectDownload(url, id, media_.path(), policy_, options_);
  }
  [[nodiscard]] bool NoMediaFiles(const std::string& id = "v1") const {
    const auto dir = media_.path() / id;
    if (!fs::exists(dir)) return true;
    for (const auto& e : fs::directory_iterator(dir)) {
      const auto name = e.path().filename().string();
      if (name.rfind("media.", 0) == 0 || (name == ".direct.part" && fs::file_size(e) > 0)) {
        return false;
      }
    }
    return true;
  }

  Trap trap_;
  std::unique_ptr<MediaServer> server_;
  TempDir media_;
  net::DestinationPolicy policy_;
  DirectOptions options_;
};

TEST_F(DirectDownloadTest, DownloadsAFileIntoTheVideosDirectory) {
  auto got = Fetch(server_->Url("/file.mp4"));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got->path, fs::absolute(media_.path()) / "v1" / "media.mp4");
  EXPECT_EQ(got->bytes, server_->Body().size());
  EXPECT_EQ(ReadAll(got->path), server_->Body());
  EXPECT_FALSE(fs::exists(media_.path() / "v1" / ".direct.part"));
  // A name is connected to at the address the policy resolved (curl does not ask DNS: the name
  // exists only in the policy's table).
  auto by_name = Fetch("http://media.test:" + std::to_string(server_->Port()) + "/file.mp4", "v2");
  ASSERT_TRUE(by_name.ok()) << by_name.error().ToString();
  EXPECT_EQ(ReadAll(by_name->path), server_->Body());
  // An allowed redirect is followed.
  auto redirected = Fetch(server_->Url("/to-file"), "v3");
  ASSERT_TRUE(redirected.ok()) << redirected.error().ToString();
  EXPECT_EQ(ReadAll(redirected->path), server_->Body());
}

TEST_F(DirectDownloadTest, RedirectsToRefusedDestinationsAreRefusedBeforeAnyConnect) {
  for (const std::string path : {"/to-metadata", "/to-trap", "/to-trap-name"}) {
    auto got = Fetch(server_->Url(path));
    ASSERT_FALSE(got.ok()) << path;
    EXPECT_EQ(got.error().code, net::kDestinationNotAllowed) << path;
    EXPECT_EQ(got.error().cls, ErrorClass::kPermanent) << path;
    EXPECT_TRUE(NoMediaFiles()) << path;
  }
  EXPECT_EQ(trap_.Connections(), 0);
  // The first URL itself is checked the same way.
  auto direct = Fetch("http://127.0.0.1:" + std::to_string(trap_.Port()) + "/x.mp4");
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.error().code, net::kDestinationNotAllowed);
  EXPECT_EQ(trap_.Connections(), 0);
}

TEST_F(DirectDownloadTest, OnlyHttpAndABoundedNumberOfRedirects) {
  auto ftp = Fetch(server_->Url("/to-ftp"));
  ASSERT_FALSE(ftp.ok());
  EXPECT_EQ(ftp.error().code, "invalid_url");
  EXPECT_EQ(ftp.error().cls, ErrorClass::kPermanent);

  options_.max_redirects = 3;
  const int before = server_->Requests();
  auto loop = Fetch(server_->Url("/loop"));
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().code, "too_many_redirects");
  EXPECT_EQ(loop.error().cls, ErrorClass::kPermanent);
  EXPECT_EQ(server_->Requests() - before, 4);  // the first request and 3 redirects
}

TEST_F(DirectDownloadTest, ResumesAPartialFileAfterACutConnection) {
  options_.max_resumes = 0;  // the first attempt gives up: the next one resumes
  auto first = Fetch(server_->Url("/cut.mp4"));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().cls, ErrorClass::kTransient) << first.error().ToString();
  const auto part = media_.path() / "v1" / ".direct.part";
  ASSERT_TRUE(fs::exists(part));
  const auto half = server_->Body().size() / 2;
  EXPECT_EQ(fs::file_size(part), half);

  auto second = Fetch(server_->Url("/cut.mp4"));
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(ReadAll(second->path), server_->Body());
  const auto ranges = server_->Ranges();
  ASSERT_EQ(ranges.size(), 2U);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=" + std::to_string(half) + "-");
}

TEST_F(DirectDownloadTest, ResumesWithinOneCall) {
  auto got = Fetch(server_->Url("/cut.mp4"));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(ReadAll(got->path), server_->Body());
  EXPECT_EQ(server_->Ranges().size(), 2U);
}

TEST_F(DirectDownloadTest, TooLargeFilesFailPermanentlyAndLeaveNothing) {
  options_.max_media_bytes = 50000;
  for (const std::string path : {"/big.mp4", "/big-chunked.mp4"}) {
    auto got = Fetch(server_->Url(path));
    ASSERT_FALSE(got.ok()) << path;
    EXPECT_EQ(got.error().code, "media_too_large") << path;
    EXPECT_EQ(got.error().cls, ErrorClass::kPermanent) << path;
    EXPECT_TRUE(NoMediaFiles()) << path;
  }
}

TEST_F(DirectDownloadTest, HttpErrorsMapToTransientAndPermanentClasses) {
  const std::vector<std::tuple<int, std::string, ErrorClass>> cases = {
      {404, "not_found", ErrorClass::kPermanent},    {410, "not_found", ErrorClass::kPermanent},
      {403, "forbidden", ErrorClass::kPermanent},    {400, "http_error", ErrorClass::kPermanent},
      {429, "rate_limited", ErrorClass::kTransient}, {503, "server_error", ErrorClass::kTransient},
  };
  for (const auto& [status, code, cls] : cases) {
    auto got = Fetch(server_->Url("/status/" + std::to_string(status) + ".mp4"));
    ASSERT_FALSE(got.ok()) << status;
    EXPECT_EQ(got.error().code, code) << status;
    EXPECT_EQ(got.error().cls, cls) << status;
    EXPECT_TRUE(NoMediaFiles()) << status;
  }
}

TEST_F(DirectDownloadTest, APageIsNotMediaAndIsNotStored) {
  auto got = Fetch(server_->Url("/page"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, kNotMedia);
  EXPECT_TRUE(NoMediaFiles());
}

TEST_F(DirectDownloadTest, AStopRequestCancels) {
  options_.should_stop = [] { return true; };
  auto got = Fetch(server_->Url("/file.mp4"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, "canceled");
  EXPECT_EQ(got.error().message, "download stopped");
  EXPECT_EQ(got.error().cls, ErrorClass::kTransient);
}

TEST(DirectMediaCandidate, MediaExtensionsAndFeedItemsThatAreNoPages) {
  EXPECT_TRUE(IsDirectMediaCandidate("http://h/a/b.mp3", "abc"));
  EXPECT_TRUE(IsDirectMediaCandidate("https://h/a/B.M4A?sig=1#x", "abc"));
  EXPECT_TRUE(IsDirectMediaCandidate("http://h/episode/42", "feed:42:0123456789abcdef"));
  EXPECT_FALSE(IsDirectMediaCandidate("http://h/pages/x.html", "feed:x:0123456789abcdef"));
  EXPECT_FALSE(IsDirectMediaCandidate("https://www.youtube.com/watch?v=abc", "abc"));
  EXPECT_FALSE(IsDirectMediaCandidate("https://vimeo.com/123", "vimeo:123"));
  EXPECT_FALSE(IsDirectMediaCandidate("ftp://h/a.mp3", "feed:a:0123456789abcdef"));
  EXPECT_FALSE(IsDirectMediaCandidate("http://h/a.mp3.html", "abc"));
}

}  // namespace
}  // namespace chansum::media
