// A download stage whose handler only waits, for the runner's process-level tests
// (runner_rmqtest.cpp): CHANSUM_TEST_HANDLER_MS (how long), CHANSUM_TEST_HONOR_STOP=1 (return
// early on shutdown like the real handlers; otherwise it ignores should_stop, like a stuck one),
// CHANSUM_TEST_NEEDS_DOCSTORE=1 (needs the document store, MONGO_URI, like transcription),
// CHANSUM_TEST_SHORT=1 (a short handler: batches claimed, handled and recorded in one transaction).
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "chansum/stage/stage.hpp"

int main() {
  using namespace chansum;
  stage::StageDefinition def;
  def.stage = protocol::Stage::kDownload;
  def.default_concurrency = 1;
  const char* docstore_text = std::getenv("CHANSUM_TEST_NEEDS_DOCSTORE");
  def.needs_docstore = docstore_text && std::string(docstore_text) == "1";
  const char* short_text = std::getenv("CHANSUM_TEST_SHORT");
  def.short_handler = short_text && std::string(short_text) == "1";
  def.configure = [](ConfigReader&, stage::StageDefinition&) -> stage::HandlerFactory {
    const char* ms_text = std::getenv("CHANSUM_TEST_HANDLER_MS");
    const char* honor_text = std::getenv("CHANSUM_TEST_HONOR_STOP");
    const auto work = std::chrono::milliseconds(ms_text ? std::atol(ms_text) : 100);
    const bool honor_stop = honor_text && std::string(honor_text) == "1";
    return [work, honor_stop] {
      return [work, honor_stop](const protocol::Command& cmd,
                                stage::StageContext& ctx) -> Result<stage::StageOutput> {
        const auto until = std::chrono::steady_clock::now() + work;
        while (std::chrono::steady_clock::now() < until) {
          if (honor_stop && ctx.should_stop()) return Error::Transient("canceled", "shutting down");
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        stage::StageOutput out;
        out.media_path = "/m/" + cmd.video_id + ".mp4";
        out.next_data = {{"media_path", out.media_path}};
        out.event_data = {{"bytes", 1}};
        return out;
      };
    };
  };
  return stage::RunStageService(def);
}
