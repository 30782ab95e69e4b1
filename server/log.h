// lfmd serve's log (spdlog behind this header; nothing else includes spdlog): start-up and
// shutdown lines, warnings and errors, one access line per HTTP request, and a periodic
// throughput line while the engine is busy. Text ("TIME LEVEL event k=v ...") or JSON (one object
// per line: {"ts","level","event",...}), to stderr or to a size-rotated file. The CLI commands
// other than serve never use it (their progress and errors stay plain stderr lines).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "engine/engine.h"
#include "server/http.h"
#include "server/request_record.h"

namespace lfmd::logging {

struct LogOptions {
  std::string level = "info";       // debug | info | warn | error | off
  std::string format = "text";      // text | json
  std::string file;                 // "" = stderr
  int64_t max_bytes = 100ll << 20;  // rotate the file when it would grow past this
  int files = 5;                    // rotated files kept (FILE.1 ... FILE.N)
};

enum class Level { Debug, Info, Warn, Error };

// Sets up the process-wide logger; throws std::runtime_error on a bad level / format or a file
// that cannot be opened. Before init (and after shutdown) lines go to stderr as "lfmd: ...".
void init(const LogOptions& opt);
void shutdown();  // flushes and closes the file

// One line: `event` and its fields (a JSON object of scalars, in order).
void write(Level level, std::string_view event, const nlohmann::ordered_json& fields = {});
inline void info(std::string_view message) {
  write(Level::Info, "message", {{"message", message}});
}
inline void warn(std::string_view message) {
  write(Level::Warn, "warning", {{"message", message}});
}
inline void error(std::string_view message) {
  write(Level::Error, "error", {{"message", message}});
}

// The wire protocol a route belongs to ("openai.chat", "ollama.chat", ...; "" for the others).
std::string protocol_of(const std::string& path);
// The fields of a request's access line (request fields without a body; see RequestRecord).
nlohmann::ordered_json access_fields(const http::Request& req, int status, RequestRecord& rec);
// Writes the access line (debug level for /health and /metrics, info otherwise).
void access(const http::Request& req, int status, RequestRecord& rec);

// While the engine has work, every interval_ms one "throughput" line: prompt and generated
// tokens/s since the previous line, running and queued requests, KV (running sequences) and
// prefix-cache memory. Silent while idle. Stops with the object.
class ThroughputLog {
 public:
  ThroughputLog(std::function<EngineStats()> stats, int interval_ms);
  ~ThroughputLog();

 private:
  void run();
  std::function<EngineStats()> stats_;
  int interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace lfmd::logging
