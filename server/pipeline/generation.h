// One request's answer, after submission: the event pump between the engine's token stream and a
// protocol adapter. It is the one place that checks the client (cancel on disconnect), applies
// stop strings and tool-call parsing, sends keep-alive ticks, and runs the handoff probe and
// decision (server/pipeline/handoff.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/api/chat_request.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/output/stream_parser.h"
#include "server/pipeline/handoff.h"
#include "server/pipeline/output_event.h"

namespace lfmd {

// Receives the events of one answer; returns false once the client is gone.
using EventSink = std::function<bool(const OutputEvent&)>;

// Everything a generation needs besides the engine's stream (set up by Pipeline::start).
struct GenerationSetup {
  std::shared_ptr<RequestStream> stream;  // the engine's events for this request
  std::function<void()> cancel;           // stops the engine's work on it (idempotent)
  Metrics* metrics = nullptr;
  const Tokenizer* tokenizer = nullptr;  // token bytes of logprob entries
  output::Options parse;                 // tool calls, stop strings
  bool streaming = false;                // keep-alives, probe window; else one final decision
  bool logprobs = false;
  int keepalive_ms = 5000;
  HandoffPolicy policy;
  const HandoffConfig* handoff = nullptr;  // window, probe size, upstream
  std::string proxy_body;                  // the request sent upstream on a proxy handoff
  bool want_trace = false;                 // test hook: per-token signals in the confidence
  nlohmann::ordered_json prompt_ids;       // test hook: the prompt's ids in the confidence
  int64_t prompt_tokens = 0;               // the submitted prompt's length
  // Called by pump() for each generated token after its output events went to the sink (the C
  // library's per-token callback: token id + the text those events carried); may be empty.
  std::function<void(const TokenEvent&)> on_token;
  std::shared_ptr<RequestRecord> record;   // the access log's (null: not logged)
  // When the pipeline received the request: TTFT counts from here (a token may be queued
  // before the Generation exists).
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

enum class PumpEnd { Finished, ClientGone, Failed };

class Generation {
 public:
  explicit Generation(GenerationSetup setup);
  ~Generation();

  enum class Source { Local, Cloud, ClientGone };
  // Where a streamed answer comes from. A streaming proxy request holds back the first
  // probe_tokens tokens and decides on them (before anything is sent, so that the answer comes
  // from one source only); every other request is Local at once.
  Source choose_source(const http::AliveCheck& alive);

  // The local answer: Text / ToolCall* / KeepAlive (streaming) events, then Finish, or
  // CloudAnswer (non-streaming proxy handoff), or Error.
  PumpEnd pump(const EventSink& sink, const http::AliveCheck& alive);
  // After choose_source() == Cloud: CloudChunk / KeepAlive events, then Finished (the upstream
  // ended) or one Error (its stream broke).
  PumpEnd pump_cloud(const EventSink& sink, const http::AliveCheck& alive);
  // The client went away before pump() ran: stop the engine's work and count the disconnect.
  void abandon() { client_gone(); }
  // Waits until the engine produced this request's first event (its prompt is computed and in
  // the prefix cache, so a sibling submitted now restarts from it). False: the client left.
  bool wait_first_event(const http::AliveCheck& alive);
  // The submitted prompt's length (known before any event; Finish's usage also has it).
  int64_t prompt_tokens() const { return s_.prompt_tokens; }
  // The answer is not wanted any more (e.g. a sibling prompt failed): stop the engine's work.
  void cancel() { s_.cancel(); }

 private:
  std::optional<TokenEvent> next_event();
  void client_gone();
  void on_token(const TokenEvent& ev);
  OutputEvent finish_event(const TokenEvent& done);
  nlohmann::ordered_json annotations(const ConfidenceSummary& s,
                                     std::optional<int64_t> decided_on) const;
  std::optional<OutputEvent> try_cloud_answer(const ConfidenceSummary& cs,
                                              const http::AliveCheck& alive);
  void count_decision(bool low);
  // Adds this answer to the request's access-log record (finish: how it ended).
  void record(const char* finish, const OutputEvent* fin);

  GenerationSetup s_;
  output::StreamParser parser_;
  std::deque<TokenEvent> held_;  // probe window, replayed by pump()
  std::optional<int64_t> decided_on_;
  bool low_ = false;                                // the policy's decision so far
  nlohmann::ordered_json handoff_error_ = nullptr;  // why a decided handoff was answered locally
  nlohmann::ordered_json pending_logprobs_ = nlohmann::ordered_json::array();
  std::vector<nlohmann::ordered_json> trace_;
  std::chrono::steady_clock::time_point start_, first_token_, last_token_;
  int64_t n_tokens_ = 0;  // tokens seen by on_token
  bool got_token_ = false;
  int64_t reasoning_tokens_ = 0;
  ConfidenceSummary probe_summary_;
  struct Cloud;
  std::unique_ptr<Cloud> cloud_;
};

// The error answer for an Error event: 503 + Retry-After when the request was never started
// because the server is stopping, else a 500 with the event's text.
api::ApiError failure_of(const OutputEvent& ev);

}  // namespace lfmd
