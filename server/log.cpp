#include "server/log.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace lfmd::logging {

using json = nlohmann::ordered_json;

namespace {

std::shared_ptr<spdlog::logger> g_logger;
bool g_json = false;

spdlog::level::level_enum spd_level(Level l) {
  switch (l) {
    case Level::Debug:
      return spdlog::level::debug;
    case Level::Info:
      return spdlog::level::info;
    case Level::Warn:
      return spdlog::level::warn;
    case Level::Error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// key=value with value as JSON text when it needs quoting (empty, spaces, quotes, '=', '\\',
// control or non-ASCII bytes: one line per entry, whatever a client sent).
std::string text_value(const json& v) {
  if (!v.is_string()) return v.dump(-1, ' ', false, json::error_handler_t::replace);
  const std::string& s = v.get_ref<const std::string&>();
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return c > 0x20 && c < 0x7f && c != '"' && c != '=' && c != '\\';
  });
  if (plain) return s;
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string render(std::string_view event, const json& fields) {
  if (g_json) {
    json o = {{"event", event}};
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) o[k] = v;
    }
    // The pattern supplies {"ts":...,"level":..., and this the rest of the object.
    return o.dump(-1, ' ', false, json::error_handler_t::replace).substr(1);
  }
  std::string line(event);
  if (fields.is_object()) {
    for (const auto& [k, v] : fields.items()) line += " " + k + "=" + text_value(v);
  }
  return line;
}

double round1(double x) {
  return std::round(x * 10.0) / 10.0;
}

}  // namespace

void init(const LogOptions& opt) {
  spdlog::level::level_enum level;
  if (opt.level == "debug")
    level = spdlog::level::debug;
  else if (opt.level == "info")
    level = spdlog::level::info;
  else if (opt.level == "warn")
    level = spdlog::level::warn;
  else if (opt.level == "error")
    level = spdlog::level::err;
  else if (opt.level == "off")
    level = spdlog::level::off;
  else
    throw std::runtime_error("--log-level must be debug, info, warn, error or off (got '" +
                             opt.level + "')");
  if (opt.format != "text" && opt.format != "json") {
    throw std::runtime_error("--log-format must be text or json (got '" + opt.format + "')");
  }
  spdlog::sink_ptr sink;
  if (opt.file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    try {
      sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          opt.file, static_cast<size_t>(opt.max_bytes), static_cast<size_t>(opt.files));
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("--log-file: " + std::string(e.what()));
    }
  }
  g_json = opt.format == "json";
  auto logger = std::make_shared<spdlog::logger>("lfmd", sink);
  const char* pattern =
      g_json ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v)" : "%Y-%m-%dT%H:%M:%S.%eZ %l %v";
  logger->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  logger->set_level(level);
  logger->flush_on(spdlog::level::debug);  // every line at once: operators tail the log
  g_logger = std::move(logger);
}

void shutdown() {
  if (g_logger) g_logger->flush();
  g_logger.reset();
}

void write(Level level, std::string_view event, const json& fields) {
  std::shared_ptr<spdlog::logger> l = g_logger;
  if (!l) {
    if (level == Level::Debug) return;
    std::string line = render(event, fields);
    std::fprintf(stderr, "lfmd: %s\n", line.c_str());
    return;
  }
  if (!l->should_log(spd_level(level))) return;
  l->log(spd_level(level), "{}", render(event, fields));
}

std::string protocol_of(const std::string& path) {
  static const std::pair<const char*, const char*> kRoutes[] = {
      {"/v1/chat/completions", "openai.chat"},
      {"/v1/completions", "openai.completions"},
      {"/v1/responses", "openai.responses"},
      {"/v1/messages", "anthropic.messages"},
      {"/v1/messages/count_tokens", "anthropic.count_tokens"},
      {"/tokenize", "llama.tokenize"},
      {"/detokenize", "llama.detokenize"},
  };
  for (const auto& [route, name] : kRoutes) {
    if (path == route) return name;
  }
  if (path.rfind("/api/", 0) == 0) return "ollama." + path.substr(5);
  if (path.rfind("/v1/models", 0) == 0) return "openai.models";
  return "";
}

json access_fields(const http::Request& req, int status, RequestRecord& rec) {
  std::lock_guard<std::mutex> lock(rec.mu);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - rec.start)
          .count();
  const std::string client = req.remote_addr.find(':') != std::string::npos
                                 ? "[" + req.remote_addr + "]:" + std::to_string(req.remote_port)
                                 : req.remote_addr + ":" + std::to_string(req.remote_port);
  json f = {{"id", rec.id},      {"method", req.method},
            {"route", req.path}, {"protocol", protocol_of(req.path)},
            {"status", status},  {"client", client}};
  if (!rec.model.empty()) f["model"] = rec.model;
  if (rec.generations > 0) {
    f["prompt_tokens"] = rec.prompt_tokens;
    f["cached_tokens"] = rec.cached_tokens;
    f["completion_tokens"] = rec.completion_tokens;
    f["ttft_ms"] = rec.ttft_ms < 0 ? json(nullptr) : json(round1(rec.ttft_ms));
    f["decode_tps"] = rec.decode_tps < 0 ? json(nullptr) : json(round1(rec.decode_tps));
    f["finish"] = rec.finish;
    f["handoff"] = rec.handoff;
    f["upstream"] = rec.upstream.empty() ? json(nullptr) : json(rec.upstream);
  }
  f["duration_ms"] = round1(ms);
  if (rec.keep_text && rec.generations > 0) {
    f["prompt"] = rec.prompt_text;
    f["output"] = rec.output_text;
  }
  return f;
}

void access(const http::Request& req, int status, RequestRecord& rec) {
  const bool quiet = req.path == "/health" || req.path == "/metrics";
  write(quiet ? Level::Debug : Level::Info, "request", access_fields(req, status, rec));
}

ThroughputLog::ThroughputLog(std::function<EngineStats()> stats, int interval_ms)
    : stats_(std::move(stats)), interval_ms_(interval_ms) {
  if (interval_ms_ > 0) thread_ = std::thread([this] { run(); });
}

ThroughputLog::~ThroughputLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ThroughputLog::run() {
  EngineStats prev = stats_();
  auto prev_t = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; })) {
    const EngineStats s = stats_();
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - prev_t).count();
    // Per forward pass, so a long prompt shows its progress (prompt_tokens_total grows as requests end).
    const int64_t prompt = s.prefill_tokens_total - prev.prefill_tokens_total;
    const int64_t gen = s.generated_tokens_total - prev.generated_tokens_total;
    const bool busy = s.running > 0 || s.queued > 0 || prompt > 0 || gen > 0;
    if (busy && dt > 0) {
      const double mib = 1.0 / (1 << 20);
      write(Level::Info, "throughput",
            {{"prompt_tps", round1(prompt / dt)},
             {"gen_tps", round1(gen / dt)},
             {"running", s.running},
             {"queued", s.queued},
             {"kv_mib", round1(s.sequence_bytes * mib)},
             {"kv_used_mib", round1(s.kv_used_bytes * mib)},
             {"kv_budget_mib", round1(s.kv_budget_bytes * mib)},
             {"paused", s.paused},
             {"preemptions", s.preemptions_total},
             {"cache_mib", round1(s.cache_bytes * mib)},
             {"cache_budget_mib", round1(s.cache_budget_bytes * mib)},
             {"cache_entries", s.cache_entries}});
    }
    prev = s;
    prev_t = now;
  }
}

}  // namespace lfmd::logging
