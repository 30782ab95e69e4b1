// Confidence reporting and the cloud handoff: the per-request policy, the request sent
// to the upstream, and calls to it with a deadline. Network I/O happens on the HTTP thread that
// serves the request (through http::UpstreamCall's own thread), never on the engine thread.
//
// Modes: off (report confidence only), flag (set cloud_handoff when the score is below the
// threshold), proxy (send the original request to the upstream instead and return its answer).
// The score is the mean normalised-entropy confidence of the generated tokens (see
// engine/confidence.h); streaming proxy requests decide on the first `probe_tokens` tokens.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "engine/confidence.h"
#include "server/api/chat_request.h"
#include "server/http.h"
#include "server/metrics.h"

namespace lfmd {

enum class HandoffMode { Off, Flag, Proxy };
bool parse_handoff_mode(const std::string& s, HandoffMode* out);
const char* handoff_mode_name(HandoffMode m);

struct HandoffConfig {
  HandoffMode mode = HandoffMode::Off;
  double threshold = 0.7;         // handoff when score < threshold
  int32_t window = 8;             // tokens in the sliding-window minimum
  int32_t probe_tokens = 16;      // streaming proxy: tokens held back before deciding
  http::UpstreamTarget upstream;  // base_url "" = no upstream (proxy is refused)
  std::string upstream_model;     // "model" sent upstream ("" = the client's)
  std::string upstream_key;  // the secret itself (read from the env var at start; never logged)
};

// What one request does: the config, overridden by "handoff" and "confidence_threshold".
struct HandoffPolicy {
  HandoffMode mode = HandoffMode::Off;
  double threshold = 0.7;
};
std::variant<HandoffPolicy, api::ApiError> resolve_policy(const HandoffConfig& cfg,
                                                          const Conversation& req);

// Primary score of a summary: mean normalised-entropy confidence; nullopt when no token was seen.
std::optional<double> confidence_score(const ConfidenceSummary& s);
// The decision: true (flag / hand off) when the policy is not off and the summary's score is below
// its threshold; never true for an empty summary.
bool below_threshold(const HandoffPolicy& p, const ConfidenceSummary& s);
// The "confidence" object of responses: {"score", "tokens", "window", "entropy": {mean,
// min_window, first}, "logprob": {...}, "margin": {...}, "threshold", "decided_on": tokens}.
nlohmann::ordered_json confidence_json(const ConfidenceSummary& s, const HandoffPolicy& p);

// Why a handoff fell back to the local answer.
struct HandoffError {
  std::string
      reason;  // connect | timeout | tls | http_status | bad_response | read | write | error
  std::string message;  // one line; never upstream bodies or headers
  int status = 0;       // http_status: the upstream's status
  nlohmann::ordered_json json() const;
};

// The body sent upstream: the client's own fields from the OpenAI chat API (messages, tools,
// tool_choice, parallel_tool_calls, response_format, stream, stream_options, max_tokens,
// max_completion_tokens, temperature, top_p, presence/frequency_penalty, seed, stop, logprobs,
// top_logprobs, n, user), as sent; "model" replaced when the config names one. Not forwarded:
// lfmd extensions (top_k, min_p, repetition_penalty, handoff, confidence_threshold, lfmd_*) and
// logit_bias (token ids of our vocabulary mean nothing upstream). `stream` is forced.
std::string upstream_body(const std::string& client_body, const HandoffConfig& cfg, bool stream);
// Headers sent upstream: Content-Type, Accept, and Authorization with the upstream key (if any).
std::vector<std::pair<std::string, std::string>> upstream_headers(const HandoffConfig& cfg,
                                                                  bool stream);

// Non-streaming call: the upstream's chat.completion JSON, or why not. Waits at most
// cfg.upstream.timeout_ms in total; gives up early when alive() turns false.
std::variant<nlohmann::ordered_json, HandoffError> call_upstream(const HandoffConfig& cfg,
                                                                 const std::string& client_body,
                                                                 const http::AliveCheck& alive,
                                                                 Metrics& metrics);

// Incremental SSE reader for the upstream's stream: data payloads in order.
class SseReader {
 public:
  void feed(const std::string& bytes);
  // The next complete event's data ("[DONE]" included), or nullopt when none is complete.
  std::optional<std::string> next();

 private:
  std::string buf_;
};

// A started streaming upstream call that already delivered its first chunk (so the answer is
// committed to the cloud). Produced by open_upstream_stream.
struct UpstreamStream {
  std::unique_ptr<http::UpstreamCall> call;
  SseReader reader;
  std::vector<nlohmann::ordered_json> first;  // chunks parsed while opening
  bool done = false;                          // [DONE] seen while opening
};
std::variant<UpstreamStream, HandoffError> open_upstream_stream(const HandoffConfig& cfg,
                                                                const std::string& client_body,
                                                                const http::AliveCheck& alive,
                                                                Metrics& metrics);

// Counts a fallback (metric lfmd_handoff_fallbacks_total{reason}).
void count_fallback(Metrics& metrics, const HandoffError& e);

}  // namespace lfmd
