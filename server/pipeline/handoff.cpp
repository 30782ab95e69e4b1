#include "server/pipeline/handoff.h"

#include <cmath>

namespace lfmd {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

bool parse_handoff_mode(const std::string& s, HandoffMode* out) {
  if (s == "off") *out = HandoffMode::Off;
  else if (s == "flag") *out = HandoffMode::Flag;
  else if (s == "proxy") *out = HandoffMode::Proxy;
  else return false;
  return true;
}

const char* handoff_mode_name(HandoffMode m) {
  switch (m) {
    case HandoffMode::Off: return "off";
    case HandoffMode::Flag: return "flag";
    case HandoffMode::Proxy: return "proxy";
  }
  return "off";
}

std::variant<HandoffPolicy, api::ApiError> resolve_policy(const HandoffConfig& cfg, const Conversation& req) {
  HandoffPolicy p{cfg.mode, cfg.threshold};
  if (req.extra.contains("confidence_threshold")) p.threshold = req.extra["confidence_threshold"].get<double>();
  if (req.extra.contains("handoff")) {
    const json& h = req.extra["handoff"];
    if (!h.is_string() || !parse_handoff_mode(h.get<std::string>(), &p.mode)) {
      return api::invalid_request("handoff must be one of \"off\", \"flag\", \"proxy\"", "handoff", "invalid_value");
    }
  }
  if (p.mode == HandoffMode::Proxy && cfg.upstream.base_url.empty()) {
    return api::invalid_request("handoff \"proxy\" needs an upstream, and this server has none configured (upstream-url)",
                                "handoff", "unsupported_value");
  }
  return p;
}

std::optional<double> confidence_score(const ConfidenceSummary& s) {
  if (s.n == 0 || !std::isfinite(s.entropy_confidence.mean)) return std::nullopt;
  return s.entropy_confidence.mean;
}

bool below_threshold(const HandoffPolicy& p, const ConfidenceSummary& s) {
  const auto score = confidence_score(s);
  return p.mode != HandoffMode::Off && score && *score < p.threshold;
}

json confidence_json(const ConfidenceSummary& s, const HandoffPolicy& p) {
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  auto sig = [&](const SignalSummary& x) {
    return json{{"mean", num(x.mean)}, {"min_window", num(x.min_window)}, {"first", num(x.first)}};
  };
  auto score = confidence_score(s);
  return json{{"score", score ? json(*score) : json(nullptr)}, {"threshold", p.threshold}, {"tokens", s.n},
              {"window", s.window}, {"entropy", sig(s.entropy_confidence)}, {"logprob", sig(s.logprob)}, {"margin", sig(s.margin)}};
}

json HandoffError::json() const {
  nlohmann::ordered_json j = {{"reason", reason}, {"message", message}};
  if (status) j["status"] = status;
  return j;
}

std::string upstream_body(const std::string& client_body, const HandoffConfig& cfg, bool stream) {
  static const char* kForward[] = {"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "response_format",
                                   "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p",
                                   "presence_penalty", "frequency_penalty", "seed", "stop", "logprobs", "top_logprobs",
                                   "n", "user"};
  json in = json::parse(client_body, nullptr, false);  // already validated by api::parse_chat_request
  json out = json::object();
  if (!in.is_object()) return out.dump();
  for (const char* k : kForward) {
    auto it = in.find(k);
    if (it != in.end()) out[k] = *it;
  }
  if (!cfg.upstream_model.empty()) out["model"] = cfg.upstream_model;
  out["stream"] = stream;
  if (!stream) out.erase("stream_options");
  return out.dump();
}

std::vector<std::pair<std::string, std::string>> upstream_headers(const HandoffConfig& cfg, bool stream) {
  std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"},
                                                        {"Accept", stream ? "text/event-stream" : "application/json"}};
  if (!cfg.upstream_key.empty()) h.emplace_back("Authorization", "Bearer " + cfg.upstream_key);
  return h;
}

namespace {

HandoffError from_fail(const http::UpstreamCall::Event& e) {
  HandoffError h;
  h.reason = e.error == "cancelled" ? "error" : e.error;
  h.message = "upstream request failed (" + e.error + "): " + e.detail;
  return h;
}

HandoffError timeout_error(int ms) {
  return {"timeout", "the upstream did not answer within " + std::to_string(ms) + " ms", 0};
}

HandoffError status_error(int status) {
  return {"http_status", "the upstream answered HTTP " + std::to_string(status), status};
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Waits for the next event of `call` until `deadline`, polling the client; nullopt = give up.
std::optional<http::UpstreamCall::Event> next_until(http::UpstreamCall& call, Clock::time_point deadline,
                                                    const http::AliveCheck& alive, bool* client_gone) {
  for (;;) {
    if (Clock::now() >= deadline) return std::nullopt;
    auto wait = std::min<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(20));
    auto ev = call.next(std::chrono::duration_cast<std::chrono::milliseconds>(wait) + std::chrono::milliseconds(1));
    if (ev) return ev;
    if (alive && !alive()) {
      *client_gone = true;
      return std::nullopt;
    }
  }
}

}  // namespace

std::variant<json, HandoffError> call_upstream(const HandoffConfig& cfg, const std::string& client_body,
                                               const http::AliveCheck& alive, Metrics& metrics) {
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::milliseconds(cfg.upstream.timeout_ms);
  auto call = http::UpstreamCall::start(cfg.upstream, "/chat/completions", upstream_body(client_body, cfg, false),
                                        upstream_headers(cfg, false));
  int status = 0;
  std::string body;
  bool gone = false;
  for (;;) {
    auto ev = next_until(*call, deadline, alive, &gone);
    if (!ev) {
      call->cancel();
      if (gone) return HandoffError{"client_gone", "the client disconnected during the handoff", 0};
      return timeout_error(cfg.upstream.timeout_ms);
    }
    using K = http::UpstreamCall::Event::Kind;
    if (ev->kind == K::Fail) return from_fail(*ev);
    if (ev->kind == K::Head) status = ev->status;
    if (ev->kind == K::Data) {
      body += ev->data;
      if (body.size() > (64u << 20)) return HandoffError{"bad_response", "the upstream answer is over 64 MiB", 0};
    }
    if (ev->kind == K::End) break;
  }
  metrics.upstream_latency.observe(seconds_since(t0));
  if (status < 200 || status > 299) return status_error(status);
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty() ||
      !j["choices"][0].is_object() || !j["choices"][0].contains("message") || !j["choices"][0]["message"].is_object()) {
    return HandoffError{"bad_response", "the upstream answer is not a chat.completion object", 0};
  }
  return j;
}

void SseReader::feed(const std::string& bytes) { buf_ += bytes; }

std::optional<std::string> SseReader::next() {
  for (;;) {
    // Events end with a blank line; CRLF line ends are accepted too.
    size_t end = std::string::npos, sep = 0;
    for (size_t i = 0; i + 1 < buf_.size(); ++i) {
      if (buf_[i] == '\n' && buf_[i + 1] == '\n') { end = i; sep = 2; break; }
      if (buf_[i] == '\n' && buf_[i + 1] == '\r' && i + 2 < buf_.size() && buf_[i + 2] == '\n') { end = i; sep = 3; break; }
    }
    if (end == std::string::npos) return std::nullopt;
    std::string event = buf_.substr(0, end);
    buf_.erase(0, end + sep);
    std::string data;
    bool has_data = false;
    size_t p = 0;
    while (p <= event.size()) {
      size_t nl = event.find('\n', p);
      std::string line = event.substr(p, nl == std::string::npos ? std::string::npos : nl - p);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("data:", 0) == 0) {
        std::string v = line.substr(5);
        if (!v.empty() && v.front() == ' ') v.erase(v.begin());
        if (has_data) data += "\n";
        data += v;
        has_data = true;
      }
      if (nl == std::string::npos) break;
      p = nl + 1;
    }
    if (has_data) return data;  // comments (": ping") and other fields are skipped
  }
}

std::variant<UpstreamStream, HandoffError> open_upstream_stream(const HandoffConfig& cfg, const std::string& client_body,
                                                                const http::AliveCheck& alive, Metrics& metrics) {
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::milliseconds(cfg.upstream.timeout_ms);
  UpstreamStream s;
  s.call = http::UpstreamCall::start(cfg.upstream, "/chat/completions", upstream_body(client_body, cfg, true),
                                     upstream_headers(cfg, true));
  int status = 0;
  bool gone = false;
  for (;;) {
    auto ev = next_until(*s.call, deadline, alive, &gone);
    if (!ev) {
      s.call->cancel();
      if (gone) return HandoffError{"client_gone", "the client disconnected during the handoff", 0};
      return timeout_error(cfg.upstream.timeout_ms);
    }
    using K = http::UpstreamCall::Event::Kind;
    if (ev->kind == K::Fail) return from_fail(*ev);
    if (ev->kind == K::Head) {
      status = ev->status;
      if (status < 200 || status > 299) {
        s.call->cancel();
        metrics.upstream_latency.observe(seconds_since(t0));
        return status_error(status);
      }
      continue;
    }
    if (ev->kind == K::End) return HandoffError{"bad_response", "the upstream stream ended before its first chunk", 0};
    s.reader.feed(ev->data);
    while (auto data = s.reader.next()) {
      if (*data == "[DONE]") {
        if (s.first.empty()) return HandoffError{"bad_response", "the upstream stream ended before its first chunk", 0};
        s.done = true;
        break;
      }
      json j = json::parse(*data, nullptr, false);
      if (!j.is_object() || j.contains("error")) {
        s.call->cancel();
        return HandoffError{"bad_response", "the upstream stream sent an error or a malformed chunk", 0};
      }
      s.first.push_back(std::move(j));
    }
    if (!s.first.empty()) {
      metrics.upstream_latency.observe(seconds_since(t0));
      return s;
    }
  }
}

void count_fallback(Metrics& metrics, const HandoffError& e) {
  metrics.count("lfmd_handoff_fallbacks_total", "reason=\"" + e.reason + "\"");
}

}  // namespace lfmd
