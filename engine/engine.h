// The only door between the server and the model: submit a request with its event stream,
// cancel it, read stats. One engine thread owns the model and every sequence; callers never
// touch model state. (Requests run one at a time until the scheduler issue adds batching.)
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/constraint.h"
#include "engine/loader.h"
#include "engine/sampler.h"

namespace lfmd {

struct GenerateRequest {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 256;        // new tokens at most; the caller checks prompt + max <= n_ctx
  SamplingParams sampling;
  int32_t top_logprobs = -1;       // -1: no logprobs; 0..20: logprob of the chosen + N alternatives
  std::vector<int32_t> forced;     // test hook: emit exactly these tokens instead of sampling
  // Control tokens whose text is part of the output (e.g. tool-call markers); other control
  // tokens produce no text.
  std::vector<int32_t> visible_specials;
  // Constrained decoding (response_format, tool_choice): masks the logits before each sample and
  // sees each sampled token. Owned by this request; null = unconstrained.
  std::shared_ptr<TokenConstraint> constraint;
};

struct TopLogprob {
  int32_t token;
  float logprob;
};

// What a request's stream carries, in order: Token* then exactly one Done or Error.
struct TokenEvent {
  enum class Kind { Token, Done, Error } kind = Kind::Token;
  int32_t token = -1;
  std::string text;                // complete UTF-8 bytes of this step (may be empty)
  float logprob = 0.0f;            // of the chosen token (when requested)
  std::vector<TopLogprob> top;     // alternatives (when requested)
  // Done: "stop" (EOS), "length" (max_tokens or context), "cancelled"; Error: message.
  std::string finish_reason;
  std::string error;
  int64_t n_prompt = 0, n_generated = 0, n_cached = 0;
};

// Single-producer (engine thread) / single-consumer (HTTP thread) event queue of one request.
class RequestStream {
 public:
  void push(TokenEvent e);
  // Waits up to `timeout` for an event; nullopt on timeout.
  std::optional<TokenEvent> pop(std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TokenEvent> q_;
};

struct EngineStats {
  int64_t queued = 0;            // submitted, not started
  int64_t running = 0;           // in prefill or decode
  int64_t requests_total = 0;    // finished (any reason)
  int64_t prompt_tokens_total = 0;
  int64_t generated_tokens_total = 0;
  int64_t cancelled_total = 0;
  int64_t decode_steps_total = 0;  // forward passes run (prefill chunks + decode steps)
};

class Engine {
 public:
  // Starts the engine thread. `model` must outlive the engine.
  Engine(LoadedModel& model, int64_t max_queue);
  ~Engine();  // stops the thread; pending requests end with Done("cancelled")
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Enqueues a request. Returns its id, or 0 when the queue is full (caller answers 429).
  uint64_t submit(GenerateRequest req, std::shared_ptr<RequestStream> stream);
  // Stops a request at the next step (also while queued or in prefill); no-op if finished.
  void cancel(uint64_t id);
  EngineStats stats() const;
  const LoadedModel& model() const { return m_; }
  // Stops admission; running and queued requests end with Done("cancelled").
  void shutdown();

 private:
  struct Job {
    uint64_t id;
    GenerateRequest req;
    std::shared_ptr<RequestStream> stream;
    std::atomic<bool> cancelled{false};
  };
  void loop();
  void run(Job& job);

  LoadedModel& m_;
  const int64_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::map<uint64_t, std::shared_ptr<Job>> live_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace lfmd
