// lfmd serve: the OpenAI-compatible HTTP daemon.
#include <arpa/inet.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/log.h"
#include "server/protocols/anthropic_messages.h"
#include "server/protocols/ollama.h"
#include "server/protocols/wire.h"
#include "server/service.h"
#include "server/webui/webui.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

namespace lfmd::cli {
namespace {

using config::OptionSpec;
using config::OptType;

config::Command serve_cmd() {
  config::Command c{"serve", "Serve the model over the OpenAI API (/v1/chat/completions, /v1/models, /health, /metrics).",
                    "lfmd serve [--model M] [--host 127.0.0.1] [--port 8080] [--api-key K] [--config FILE] [options]",
                    model_options()};
  std::vector<OptionSpec> more = {
      {"host", OptType::String, "127.0.0.1", "address to listen on (non-loopback needs --api-key)"},
      {"port", OptType::Int, "8080", "TCP port (0 = any free port)", 0, 65535},
      {"api-key", OptType::String, "", "require 'Authorization: Bearer KEY' or 'x-api-key: KEY' on every route but /health"},
      {"config", OptType::String, "", "config file of 'name = value' lines (flags and env win over it)"},
      {"model-alias", OptType::String, "", "model id shown by /v1/models (default: the file's name)"},
      {"allowed-hosts", OptType::String, "", "extra Host header names accepted, comma-separated (DNS-rebinding guard)"},
      {"cors-origins", OptType::String, "", "origins allowed by CORS, comma-separated (default: none)"},
      {"max-queue", OptType::Int, "16", "requests waiting for a free sequence slot before 429", 1, 100000},
      {"parallel", OptType::Int, "4", "sequences generated at once (each with the full --ctx)", 1, 256},
      {"prefill-chunk", OptType::Int, "64", "prompt tokens per step while other streams decode (bounds their stall)", 1, 65536},
      {"kv-budget", OptType::Int, "0", "MiB for all sequences' KV state plus the prefix cache (0 = half of the memory available after the weights)", 0, 1 << 30},
      {"cache-mb", OptType::Int, "2048", "prefix cache budget in MiB, within --kv-budget (0 = off)", 0, 1 << 20},
      {"disk-cache", OptType::Bool, "true", "keep prefix-cache entries on disk across restarts (--no-disk-cache: off)"},
      {"cache-dir", OptType::String, "", "directory of on-disk prefix-cache entries (default: the lfmd cache dir + /prefix-cache)"},
      {"cache-disk-mb", OptType::Int, "8192", "on-disk prefix cache budget in MiB, least recently used deleted first", 1, 1 << 30},
      {"snapshot-every", OptType::Int, "64", "conv-state snapshot interval in tokens (prefix-cache restart points)", 1, 1 << 20},
      {"max-body", OptType::Int, "8388608", "largest request body in bytes (413 beyond)", 1024, 1 << 30},
      {"keepalive-ms", OptType::Int, "5000", "SSE ': ping' interval while a stream is silent (prefill)", 10, 600000},
      {"http-threads", OptType::Int, "16", "HTTP connection threads kept ready (more start on demand)", 2, 1024},
      {"max-connections", OptType::Int, "2048", "connections served at once, one thread each (beyond: 503 + Retry-After; capped by ulimit -n)", 2, 1 << 20},
      {"request-timeout", OptType::Int, "30", "seconds within which a request's headers and body must arrive (408 beyond)", 1, 3600},
      {"keep-alive-timeout", OptType::Int, "15", "seconds an idle keep-alive connection stays open", 1, 3600},
      {"drain-timeout", OptType::Int, "5", "on SIGTERM/SIGINT: seconds running requests may finish before they are ended", 0, 3600},
      {"webui", OptType::Bool, "true", "serve the chat page at / (--no-webui: off, / is then a 404)"},
      {"test-hooks", OptType::Bool, "", "accept test-only request fields (lfmd_forced_output, lfmd_step_delay_ms, ...); never in production"},
      {"test-forced-output", OptType::String, "", "with --test-hooks: every request emits exactly this text (a stand-in upstream)"},
      {"test-script", OptType::String, "", "with --test-hooks: JSON file [{\"when\": TEXT, \"output\": TEXT}]: scripted outputs across turns"},
      {"handoff", OptType::String, "off", "confidence policy: off | flag (mark low-confidence answers) | proxy (send them to --upstream-url)"},
      {"confidence-threshold", OptType::Float, "0.7", "hand off when the mean normalised-entropy confidence is below this", 0, 1},
      {"confidence-window", OptType::Int, "8", "tokens in the sliding window of the confidence minimum", 1, 4096},
      {"handoff-probe-tokens", OptType::Int, "16", "streaming proxy requests: tokens held back before deciding", 1, 4096},
      {"upstream-url", OptType::String, "", "OpenAI-compatible base URL of the cloud upstream, e.g. https://api.example.com/v1"},
      {"upstream-model", OptType::String, "", "model name sent upstream (default: the client's)"},
      {"upstream-api-key-env", OptType::String, "", "NAME of the environment variable holding the upstream API key"},
      {"upstream-timeout-ms", OptType::Int, "10000", "deadline for the upstream's answer (first chunk when streaming)", 1, 600000},
      {"upstream-ca-file", OptType::String, "", "PEM CA bundle for the upstream's certificate (default: system CAs)"},
      {"ollama-port", OptType::Int, "-1", "also serve every route on this port (Ollama clients default to 11434; 0 = any free port; -1 = off)", -1, 65535},
      {"log-level", OptType::String, "info", "debug | info | warn | error | off (debug adds /health and /metrics requests)"},
      {"log-format", OptType::String, "text", "text | json (one JSON object per line)"},
      {"log-file", OptType::String, "", "write the log to this file instead of stderr, rotated by size"},
      {"log-max-kb", OptType::Int, "102400", "rotate --log-file when it would grow past this many KiB", 1, 1 << 30},
      {"log-files", OptType::Int, "5", "rotated log files kept (FILE.1 ... FILE.N)", 1, 1000},
      {"log-prompts", OptType::Bool, "", "log each request's prompt and output text (never logged otherwise)"},
      {"log-stats-ms", OptType::Int, "10000", "interval of the throughput line while requests run (0 = off)", 0, 86400000},
  };
  for (auto& o : more) c.options.push_back(o);
  return c;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    i = j + 1;
  }
  return out;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a4{};
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (::inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

// Host header without the port: "localhost:8080" -> "localhost", "[::1]:80" -> "::1".
std::string host_name(const std::string& h) {
  if (!h.empty() && h.front() == '[') {
    auto e = h.find(']');
    return e == std::string::npos ? h : h.substr(1, e - 1);
  }
  auto c = h.find(':');
  return c == std::string::npos ? h : h.substr(0, c);
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0;
}

HandoffConfig handoff_from_options(const config::Options& o) {
  HandoffConfig h;
  if (!parse_handoff_mode(o.str("handoff"), &h.mode)) {
    throw std::runtime_error("--handoff must be off, flag or proxy (got '" + o.str("handoff") + "')");
  }
  h.threshold = o.number("confidence-threshold");
  h.window = static_cast<int32_t>(o.integer("confidence-window"));
  h.probe_tokens = static_cast<int32_t>(o.integer("handoff-probe-tokens"));
  h.upstream.base_url = o.str("upstream-url");
  h.upstream.ca_file = o.str("upstream-ca-file");
  h.upstream.timeout_ms = static_cast<int>(o.integer("upstream-timeout-ms"));
  h.upstream_model = o.str("upstream-model");
  if (!h.upstream.base_url.empty()) {
    if (std::string why = http::check_upstream_url(h.upstream.base_url); !why.empty()) throw std::runtime_error("--upstream-url: " + why);
  }
  if (h.mode == HandoffMode::Proxy && h.upstream.base_url.empty()) {
    throw std::runtime_error("--handoff proxy needs --upstream-url");
  }
  if (const std::string env = o.str("upstream-api-key-env"); !env.empty()) {
    const char* v = std::getenv(env.c_str());
    if (!v || !*v) throw std::runtime_error("--upstream-api-key-env names " + env + ", which is not set");
    h.upstream_key = v;  // never printed
  }
  if (!h.upstream.base_url.empty()) {
    logging::write(logging::Level::Info, "handoff",
                   {{"mode", handoff_mode_name(h.mode)}, {"threshold", h.threshold}, {"upstream", h.upstream.base_url},
                    {"key", h.upstream_key.empty() ? "none" : "from $" + o.str("upstream-api-key-env")}});
  }
  return h;
}

// --test-script: [{"when": "text in the prompt" (optional), "output": "what the model says"}].
std::vector<PipelineOptions::ScriptEntry> read_script(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("--test-script: cannot read " + path);
  const nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  std::vector<PipelineOptions::ScriptEntry> out;
  if (!j.is_array()) throw std::runtime_error("--test-script: " + path + " is not a JSON array");
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("output") || !e["output"].is_string()) {
      throw std::runtime_error("--test-script: every entry needs a string \"output\"");
    }
    out.push_back({e.value("when", std::string()), e["output"].get<std::string>()});
  }
  return out;
}

EngineOptions engine_options(const config::Options& o) {
  EngineOptions eo;
  eo.max_queue = o.integer("max-queue");
  eo.parallel = o.integer("parallel");
  eo.prefill_chunk = o.integer("prefill-chunk");
  eo.cache_bytes = static_cast<size_t>(o.integer("cache-mb")) << 20;
  eo.kv_budget_bytes = static_cast<uint64_t>(o.integer("kv-budget")) << 20;
  eo.snapshot_interval = o.integer("snapshot-every");
  eo.log = [](const std::string& line) { logging::warn(line); };
  if (o.flag("disk-cache") && eo.cache_bytes > 0) {
    eo.disk_cache_dir = o.str("cache-dir").empty() ? default_cache_dir() + "/prefix-cache" : o.str("cache-dir");
    eo.disk_cache_bytes = static_cast<uint64_t>(o.integer("cache-disk-mb")) << 20;
  }
  return eo;
}

PipelineOptions pipeline_options(const config::Options& o) {
  PipelineOptions co;
  co.keepalive_ms = static_cast<int>(o.integer("keepalive-ms"));
  co.test_hooks = o.flag("test-hooks");
  if (co.test_hooks) co.forced_output = o.str("test-forced-output");
  if (co.test_hooks && !o.str("test-script").empty()) co.script = read_script(o.str("test-script"));
  co.handoff = handoff_from_options(o);
  return co;
}

// An error in the shape of the route's protocol (Anthropic's under /v1/messages, Ollama's under /api/).
http::Response error_for(const http::Request& req, const api::ApiError& e) {
  if (req.path.rfind("/api/", 0) == 0) return ollama::error_response(e);
  const bool anthropic = req.path == "/v1/messages" || req.path.rfind("/v1/messages/", 0) == 0;
  return anthropic ? anthropic_messages::error_response(e) : wire::error_response(e);
}

// Access rules (Host, CORS, API key), error bodies, /health and the Service's routes. Handlers
// answer 503 model_loading until `service` is set.
void install_routes(http::Server& server, const config::Options& o, const http::ServerOptions& so, Metrics& metrics,
                    std::atomic<Service*>& service, std::atomic<bool>& ready) {
  const std::string host = o.str("host");
  const std::string key = o.str("api-key");
  std::vector<std::string> allowed = {"localhost", "127.0.0.1", "::1", host};
  for (auto& h : split_list(o.str("allowed-hosts"))) allowed.push_back(h);
  const std::vector<std::string> cors = split_list(o.str("cors-origins"));
  const bool webui = o.flag("webui");
  auto reject_auth = [&metrics](const http::Request& req, const api::ApiError& e) {
    metrics.count_request(401);
    return error_for(req, e);
  };
  server.set_filter([&, key, allowed, cors, reject_auth, webui](const http::Request& req) -> std::optional<http::Response> {
    const std::string h = req.header("host");
    if (!h.empty() && std::find(allowed.begin(), allowed.end(), host_name(h)) == allowed.end()) {
      metrics.count_request(403);
      http::Response r = wire::error_response(api::invalid_request("Host '" + api::sanitize_for_message(h, 64) +
                                                             "' is not allowed (see --allowed-hosts)", "", "host_not_allowed"));
      r.status = 403;
      return r;
    }
    const std::string origin = req.header("origin");
    const bool cors_ok = !origin.empty() && std::find(cors.begin(), cors.end(), origin) != cors.end();
    if (req.method == "OPTIONS") {
      http::Response r;
      r.status = cors_ok ? 204 : 403;
      if (cors_ok) {
        r.headers = {{"Access-Control-Allow-Origin", origin}, {"Vary", "Origin"},
                     {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                     {"Access-Control-Allow-Headers",
                      "Authorization, Content-Type, x-api-key, anthropic-version, anthropic-beta"}};
      }
      return r;
    }
    // The chat page is public (it asks for the key); its API calls are not.
    if (!key.empty() && req.path != "/health" && !(webui && webui::is_asset(req.method, req.path))) {
      // Authorization: Bearer KEY (OpenAI clients) or x-api-key: KEY (Anthropic clients).
      const std::string auth = req.header("authorization"), xkey = req.header("x-api-key");
      const std::string prefix = "Bearer ";
      const bool bearer = auth.rfind(prefix, 0) == 0;
      if (!bearer && xkey.empty()) return reject_auth(req, api::missing_api_key());
      const bool ok_bearer = bearer && constant_time_equal(auth.substr(prefix.size()), key);
      const bool ok_xkey = !xkey.empty() && constant_time_equal(xkey, key);
      if (!ok_bearer && !ok_xkey) return reject_auth(req, api::invalid_api_key());
    }
    return std::nullopt;
  });
  server.set_error_handler([&, max_body = so.max_body_bytes, request_timeout = so.request_timeout_s](int status, const http::Request& req) {
    metrics.count_request(status);
    if (status == 413) return error_for(req, api::body_too_large(max_body));
    if (status == 408) return error_for(req, api::request_timeout(request_timeout));
    if (status == 404) return error_for(req, api::route_not_found(req.method, req.path));
    return wire::error_response(api::invalid_request("HTTP error " + std::to_string(status)));
  });
  // An allowed Origin gets CORS headers on every response, not only on preflights.
  auto with_cors = [cors](const http::Request& req, http::Response r) {
    const std::string origin = req.header("origin");
    if (!origin.empty() && std::find(cors.begin(), cors.end(), origin) != cors.end()) {
      r.headers.emplace_back("Access-Control-Allow-Origin", origin);
      r.headers.emplace_back("Vary", "Origin");
    }
    return r;
  };
  server.route("GET", "/health", [&, with_cors](const http::Request& req, const http::AliveCheck&) {
    if (!ready) return with_cors(req, wire::error_response(api::model_loading(2)));
    if (Service* s = service.load(); s && s->draining())  // load balancers: stop sending
      return with_cors(req, wire::error_response(api::shutting_down()));
    http::Response r;
    r.body = R"({"status":"ok"})";
    return with_cors(req, r);
  });
  auto forward = [&, with_cors](const Service::Route& route) {
    return [&service, &metrics, fn = route.handle, with_cors](const http::Request& req, const http::AliveCheck& alive) {
      Service* s = service.load();
      if (s && req.record) {
        std::lock_guard<std::mutex> lock(req.record->mu);
        req.record->model = s->model_id();
      }
      http::Response r = s ? fn(*s, req, alive) : wire::error_response(api::model_loading(2));
      metrics.count_request(r.status);
      return with_cors(req, std::move(r));
    };
  };
  for (const Service::Route& route : Service::routes()) server.route(route.method, route.pattern, forward(route));
  server.set_access_log(logging::access);
  if (!webui) return;
  for (const webui::Asset& a : webui::assets()) {
    std::string pattern;  // a regex: escape the dots of "/ui/app.js"
    for (char ch : a.path) pattern += ch == '.' ? std::string("\\.") : std::string(1, ch);
    server.route("GET", pattern, [&metrics, &a](const http::Request&, const http::AliveCheck&) {
      metrics.count_request(200);
      return webui::response(a);
    });
  }
}

logging::LogOptions log_options(const config::Options& o) {
  logging::LogOptions lo;
  lo.level = o.str("log-level");
  lo.format = o.str("log-format");
  lo.file = o.str("log-file");
  lo.max_bytes = o.integer("log-max-kb") << 10;
  lo.files = static_cast<int>(o.integer("log-files"));
  return lo;
}

std::string url_of(const std::string& host, int port) {
  return "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// The main listener and, with --ollama-port, a second one serving the same routes.
struct Listeners {
  std::vector<std::unique_ptr<http::Server>> servers;
  std::vector<int> ports;
  std::vector<std::thread> threads;
  void stop() {
    for (auto& s : servers) s->stop();
  }
  void join() {
    for (auto& t : threads) t.join();
    threads.clear();
  }
  http::ConnectionStats connection_stats() const {  // summed over the listeners
    http::ConnectionStats sum;
    for (const auto& s : servers) {
      const http::ConnectionStats c = s->connection_stats();
      sum.open += c.open, sum.threads += c.threads, sum.max_connections += c.max_connections;
      sum.timed_out += c.timed_out, sum.overloaded += c.overloaded;
    }
    return sum;
  }
};

void open_listeners(Listeners& l, const config::Options& o, Metrics& metrics, std::atomic<Service*>& service,
                    std::atomic<bool>& ready) {
  http::ServerOptions so;
  so.host = o.str("host");
  so.port = static_cast<int>(o.integer("port"));
  so.max_body_bytes = static_cast<size_t>(o.integer("max-body"));
  so.threads = static_cast<int>(o.integer("http-threads"));
  so.max_connections = static_cast<int>(o.integer("max-connections"));
  so.request_timeout_s = static_cast<int>(o.integer("request-timeout"));
  so.keep_alive_timeout_s = static_cast<int>(o.integer("keep-alive-timeout"));
  so.record_text = o.flag("log-prompts");
  std::vector<int> wanted = {so.port};
  if (o.integer("ollama-port") >= 0) wanted.push_back(static_cast<int>(o.integer("ollama-port")));
  for (int port : wanted) {
    so.port = port;
    l.servers.push_back(std::make_unique<http::Server>(so));
    install_routes(*l.servers.back(), o, so, metrics, service, ready);
    std::string err;
    const int bound = l.servers.back()->bind(&err);
    if (bound < 0) throw std::runtime_error(err);
    l.ports.push_back(bound);
  }
  for (auto& s : l.servers) l.threads.emplace_back([srv = s.get()] { srv->run(); });
}

// The start-up report of the KV budget: its size and where it came from, and what it holds.
void log_kv_budget(const Engine& engine, const LoadedModel& model, const std::string& how) {
  const double mib = 1.0 / (1 << 20);
  auto probe = model.model->new_sequence(model.n_ctx);
  const int64_t per_1k = static_cast<int64_t>(probe->bytes_at(1024) - probe->bytes());
  logging::write(logging::Level::Info, "kv_budget",
                 {{"mib", static_cast<int64_t>(engine.kv_budget() * mib)},
                  {"from", how},
                  {"kib_per_1k_tokens", per_1k / 1024},
                  {"tokens", per_1k > 0 ? static_cast<int64_t>(engine.kv_budget() / static_cast<uint64_t>(per_1k) * 1024) : 0},
                  {"request_limit_tokens", engine.context_limit()},
                  {"prefix_cache_mib", static_cast<int64_t>(engine.stats().cache_budget_bytes * mib)},
                  {"disk_write_share_mib", static_cast<int64_t>(engine.disk_write_share() * mib)}});
  if (engine.context_limit() < model.n_ctx) {
    logging::warn("the KV budget holds " + std::to_string(engine.context_limit()) + " tokens of one request, less than the context of " +
                  std::to_string(model.n_ctx) + ": longer requests get 400 (raise --kv-budget or lower --ctx)");
  }
}

// Loads the model, starts the engine and the Service over them (logs the scheduler line).
void start_service(const config::Options& o, Metrics& metrics, std::unique_ptr<LoadedModel>& model,
                   std::unique_ptr<Engine>& engine, std::unique_ptr<Service>& chat) {
  model = load_from_options(o, [](const std::string& line) { logging::info(line); });
  EngineOptions eo = engine_options(o);
  std::string budget_how = "--kv-budget";
  if (eo.kv_budget_bytes == 0) eo.kv_budget_bytes = default_kv_budget(*model, &budget_how);
  engine = std::make_unique<Engine>(*model, eo);
  const EngineStats st = engine->stats();
  log_kv_budget(*engine, *model, budget_how);
  logging::write(logging::Level::Info, "scheduler",
                 {{"parallel", eo.parallel}, {"ctx", model->n_ctx}, {"prefill_chunk", eo.prefill_chunk},
                  {"cache_mib", st.cache_budget_bytes >> 20},
                  {"disk_cache", st.disk_enabled ? eo.disk_cache_dir : std::string("off")},
                  {"disk_cache_mib", st.disk_enabled ? o.integer("cache-disk-mb") : 0},
                  {"disk_cache_entries", st.disk_enabled ? st.disk.entries : 0}});
  const std::string model_id = o.str("model-alias").empty() ? model->name : o.str("model-alias");
  chat = std::make_unique<Service>(*engine, *model, model_id, pipeline_options(o), metrics);
}

// Queued and new requests get 503 now; running ones may finish within drain_s seconds, then end
// with a final event; then the listeners close. engine: null while the model still loads.
void stop_gracefully(Engine* engine, Listeners& listeners, int drain_s) {
  if (engine) {
    engine->drain();
    if (!engine->wait_idle(std::chrono::seconds(drain_s)))
      logging::write(logging::Level::Warn, "drain_timeout",
                     {{"seconds", drain_s}, {"ending_running", engine->stats().running}});
    engine->shutdown();
  }
  listeners.stop();
}

int run_serve(const config::Options& o) {
  const std::string host = o.str("host");
  const std::string key = o.str("api-key");
  if (!is_loopback(host) && key.empty()) {
    throw std::runtime_error("refusing to listen on non-loopback address " + host + " without --api-key (or LFMD_API_KEY)");
  }
  logging::init(log_options(o));
  // Signals are taken by one thread (sigwait), so no handler runs inside a library call.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Metrics metrics;
  std::atomic<Service*> service{nullptr};
  std::atomic<bool> ready{false};
  Listeners listeners;
  try {
    open_listeners(listeners, o, metrics, service, ready);
  } catch (...) {
    listeners.stop();
    listeners.join();
    throw;
  }
  metrics.connections = [&listeners] { return listeners.connection_stats(); };
  std::atomic<bool> stop_requested{false};
  std::atomic<Engine*> live_engine{nullptr};
  const int drain_s = static_cast<int>(o.integer("drain-timeout"));
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (stop_requested.exchange(true)) return;
    logging::write(logging::Level::Info, "stopping", {{"signal", sig}});
    stop_gracefully(live_engine.load(), listeners, drain_s);
  });

  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Service> chat;
  try {
    start_service(o, metrics, model, engine, chat);
  } catch (...) {
    listeners.stop();
    listeners.join();
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
    throw;
  }
  live_engine = engine.get();
  service = chat.get();
  ready = true;
  auto throughput = std::make_unique<logging::ThroughputLog>([e = engine.get()] { return e->stats(); },
                                                             static_cast<int>(o.integer("log-stats-ms")));
  // stdout: the machine-readable ports (tests and scripts read them); the log says it too.
  std::printf("listening on %s\n", url_of(host, listeners.ports[0]).c_str());
  if (listeners.ports.size() > 1) std::printf("ollama listening on %s\n", url_of(host, listeners.ports[1]).c_str());
  std::fflush(stdout);
  logging::write(logging::Level::Info, "start",
                 {{"url", url_of(host, listeners.ports[0])},
                  {"ollama_url", listeners.ports.size() > 1 ? url_of(host, listeners.ports[1]) : std::string("off")},
                  {"model", chat->model_id()}});
  listeners.join();  // returns after stop()
  // Stop admission, end running generations with a final event, then exit 0.
  throughput.reset();
  engine->shutdown();
  service = nullptr;
  live_engine = nullptr;
  chat.reset();
  engine.reset();
  if (!stop_requested.exchange(true)) pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  logging::write(logging::Level::Info, "stopped");
  logging::shutdown();
  return 0;
}

}  // namespace

int cmd_serve(const std::vector<std::string>& a) { return guarded("serve", run_serve, serve_cmd(), a); }

}  // namespace lfmd::cli
