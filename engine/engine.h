// The only door between the server and the model: submit a request with its event stream,
// cancel it, read stats. One engine thread owns the model, every sequence and the prefix cache;
// callers never touch model state.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/blocking_queue.h"
#include "engine/confidence.h"
#include "engine/constraint.h"
#include "engine/disk_cache.h"
#include "engine/loader.h"
#include "engine/prefix_cache.h"
#include "engine/sampler.h"

namespace lfmd {

struct GenerateRequest {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 256;        // new tokens at most; the caller checks prompt + max <= n_ctx
  SamplingParams sampling;
  int32_t top_logprobs = -1;       // -1: no logprobs; 0..20: logprob of the chosen + N alternatives
  std::vector<int32_t> forced;     // test hook: emit exactly these tokens instead of sampling
  // Test hook: the engine thread pauses this long (ms) after each forward pass holding this
  // request, so that a tiny model cannot finish before a test's client acts (0 = off).
  int32_t test_step_delay_ms = 0;
  // Control tokens whose text is part of the output (e.g. tool-call markers); other control
  // tokens produce no text.
  std::vector<int32_t> visible_specials;
  // Confidence signals (engine/confidence.h) of every sampled token, from the raw distribution.
  bool want_confidence = false;
  int32_t confidence_window = 8;   // tokens in the sliding window of the summary's minimum
  // Constrained decoding (response_format, tool_choice): masks the logits before each sample and
  // sees each sampled token. Owned by this request; null = unconstrained.
  std::shared_ptr<TokenConstraint> constraint;
};

struct TopLogprob {
  int32_t token;
  float logprob;
};

// Why a request's generation ended: the end-of-turn token was sampled, max_tokens or the context
// was reached, or it was cancelled (client gone, stop string, shutdown).
enum class FinishReason { Stop, Length, Cancelled };
const char* finish_reason_name(FinishReason r);  // "stop" | "length" | "cancelled"

// What a request's stream carries, in order: Token* then exactly one Done or Error.
struct TokenEvent {
  enum class Kind { Token, Done, Error } kind = Kind::Token;
  int32_t token = -1;
  std::string text;                // complete UTF-8 bytes of this step (may be empty)
  float logprob = 0.0f;            // of the chosen token (when requested)
  std::vector<TopLogprob> top;     // alternatives (when requested)
  std::optional<TokenConfidence> confidence;  // Token with a sampled id, when requested
  std::optional<ConfidenceSummary> confidence_summary;  // Done, when requested
  FinishReason finish_reason = FinishReason::Stop;  // Done
  std::string error;                                // Error: the message
  bool shutting_down = false;  // Error: never started, the engine is stopping (a 503, not a fault)
  int64_t n_prompt = 0, n_generated = 0, n_cached = 0;
  std::string cache_source;        // Done: where n_cached came from, "memory" | "disk" | ""
};

// One request's events: pushed by the engine thread, popped by the thread serving the request.
using RequestStream = BlockingQueue<TokenEvent>;

struct EngineStats {
  int64_t queued = 0;            // submitted, not started
  int64_t running = 0;           // in prefill or decode
  int64_t requests_total = 0;    // finished (any reason)
  int64_t prompt_tokens_total = 0;
  int64_t cached_prompt_tokens_total = 0;  // prompt tokens restored from the prefix cache
  int64_t generated_tokens_total = 0;
  int64_t prefill_tokens_total = 0;  // prompt tokens computed, counted per forward pass
  int64_t cancelled_total = 0;
  int64_t decode_steps_total = 0;  // forward passes run
  int64_t batch_tokens_total = 0;  // tokens over all forward passes
  int64_t sequence_bytes = 0;    // state (KV, conv, snapshots) of running sequences
  int64_t cache_bytes = 0;       // prefix cache
  int64_t cache_entries = 0;
  int64_t cache_budget_bytes = 0;
  // Requests that restarted from a cached prefix, and the tokens restored, by source. Memory
  // includes prefixes of running sequences; disk counts entries read back from --cache-dir.
  int64_t cache_hits_memory = 0, cache_hits_disk = 0;
  int64_t cache_hit_tokens_memory = 0, cache_hit_tokens_disk = 0;
  bool disk_enabled = false;
  DiskCacheStats disk;
  // KV memory budget (EngineOptions::kv_budget_bytes): running sequences + prefix cache.
  int64_t kv_budget_bytes = 0;
  int64_t kv_used_bytes = 0;       // sequence_bytes + cache_bytes
  int64_t kv_peak_bytes = 0;       // the most kv_used_bytes seen after a step
  int64_t context_limit = 0;       // tokens one request may hold (Engine::context_limit)
  int64_t paused = 0;              // preempted sequences waiting for memory to resume
  int64_t memory_waiting = 0;      // queued requests held back because their prompt does not fit yet
  int64_t memory_waits_total = 0;  // requests that had to wait for memory before starting
  int64_t preemptions_total = 0;   // sequences paused to keep the running ones within the budget
  int64_t recomputed_tokens_total = 0;  // tokens computed again when paused sequences resumed
};

struct EngineOptions {
  int64_t max_queue = 16;          // requests waiting for a slot before submit() refuses
  int64_t parallel = 4;            // sequences running at once, each with the model's full n_ctx
  int64_t prefill_chunk = 64;      // prompt tokens per step while other sequences decode
  size_t cache_bytes = 1ull << 30; // prefix cache budget (0 = off)
  int64_t snapshot_interval = 64;  // conv-state snapshot every N tokens (prefix restart points)
  // Disk tier of the prefix cache (needs cache_bytes > 0): entries evicted from memory and
  // those left at shutdown are written here and found again by later requests ("" = off).
  std::string disk_cache_dir;
  uint64_t disk_cache_bytes = 8ull << 30;
  // Bytes that every running sequence's state plus the prefix cache must stay under (the cache
  // gives memory back first, then the newest sequences are paused and resumed later; requests
  // wait while their prompt does not fit). 0 = default_kv_budget() of the available memory.
  uint64_t kv_budget_bytes = 0;
  int32_t test_disk_load_delay_ms = 0;  // DiskCache::Options::test_load_delay_ms
  // Warnings (discarded entries, disk errors); null = stderr.
  std::function<void(const std::string&)> log;
};

// The default KV budget: half of the memory available now (MemAvailable, or what the cgroup
// still allows when that is less) after the mapped weights that must stay resident, at least
// 64 MiB. `how` (optional) gets a one-line account for the start-up report.
uint64_t default_kv_budget(const LoadedModel& m, std::string* how);

// The scheduler. Every step it runs ONE forward pass holding the next token of every decoding
// sequence plus a chunk of pending prompt tokens, samples each sequence's next token, and
// retires finished ones into the prefix cache. New requests join at the next step.
class Engine {
 public:
  // Starts the engine thread. `model` must outlive the engine.
  Engine(LoadedModel& model, EngineOptions opt);
  ~Engine();  // stops the thread; pending requests end with Done("cancelled")
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Enqueues a request; never waits for the engine thread. Returns its id, or 0 when the queue is full or the engine is
  // stopping (caller answers 429 / 503).
  uint64_t submit(GenerateRequest req, std::shared_ptr<RequestStream> stream);
  // Stops a request at the next step (also while queued or in prefill); no-op if finished.
  // Its sequence state is freed, not cached.
  void cancel(uint64_t id);
  EngineStats stats() const;
  const LoadedModel& model() const { return m_; }
  const EngineOptions& options() const { return opt_; }
  // The KV budget in force (resolved from EngineOptions::kv_budget_bytes).
  uint64_t kv_budget() const { return budget_; }
  uint64_t disk_write_share() const { return write_reserve_; }  // of it, for queued disk writes
  // Tokens one request may hold: the context, or fewer when a single sequence of the full
  // context would not fit the KV budget. Callers refuse prompts that reach it.
  int64_t context_limit() const { return context_limit_; }
  // Stops admission; running and queued requests end with Done("cancelled").
  void shutdown();
  // A graceful stop's first half: no new admissions (submit returns 0, draining() is true) and
  // queued requests end at once with an Error marked shutting_down; running ones go on.
  void drain();
  bool draining() const { return draining_.load(); }
  // Blocks until nothing runs or is queued, or until the timeout; true when idle.
  bool wait_idle(std::chrono::milliseconds timeout) const;

 private:
  struct Job;
  struct Seq;
  struct Queue;
  void loop();
  void admit(std::shared_ptr<Job> job);
  void cancel_waiting(Job& job);
  void reject_waiting(Job& job);  // drain(): ends a queued job with a shutting_down Error
  void step();
  void handle_logits(Seq& s, float* logits);
  // ---- the KV memory budget (engine/engine_memory.cpp) ----
  void init_budget();
  size_t state_bytes() const;                  // every running sequence's state
  size_t held_disk_bytes() const;              // disk entries read for queued requests
  size_t states_budget() const { return budget_ - write_reserve_; }  // states + prefix cache
  size_t fresh_bytes(int64_t n_tokens) const;  // a new sequence's state at n tokens
  size_t snapshot_bytes() const;                // one conv-state snapshot
  int64_t longest_alone() const;                // tokens one sequence may hold in states_budget()
  size_t whole_entry_reserve() const;           // a write share for the largest entry
  bool fits_now(int64_t n_tokens) const;       // a new sequence of n tokens fits beside the running ones
  void admit_or_resume();
  void preempt_newest();
  void resume(std::unique_ptr<Seq> s);
  void make_room_for_decode();
  int64_t affordable(const Seq& s, int64_t want, size_t& growth) const;
  void give_back_cache(size_t growth);
  void finish(Seq& s, FinishReason reason);
  void fail(Seq& s, const std::string& message);
  void publish_stats();
  PrefixCache::Hit best_running(const std::vector<int32_t>& prompt, int64_t limit) const;
  bool start_disk_load(const std::shared_ptr<Job>& job);
  void take_disk_loads();
  void open_disk_cache();

  LoadedModel& m_;
  const EngineOptions opt_;
  std::unique_ptr<Queue> queue_;                 // submissions: HTTP threads -> engine thread
  std::atomic<int64_t> n_waiting_{0};            // submitted, not admitted
  std::atomic<int64_t> submitting_{0};           // submit() calls in flight
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_id_{1};
  mutable std::mutex live_mu_;                   // id -> job, for cancel()
  std::map<uint64_t, std::shared_ptr<Job>> live_;
  mutable std::mutex stats_mu_;
  mutable std::condition_variable stats_cv_;     // stats_ changed (wait_idle)
  EngineStats stats_;
  // Engine-thread state.
  std::deque<std::shared_ptr<Job>> waiting_;
  std::vector<std::unique_ptr<Seq>> running_;
  std::deque<std::unique_ptr<Seq>> paused_;     // preempted, oldest first; resume before new jobs
  uint64_t budget_ = 0;                          // KV budget in bytes (resolved)
  size_t write_reserve_ = 0;                     // of it, for states queued for disk writes
  int64_t context_limit_ = 0;
  uint64_t next_order_ = 0;                      // admission order (the newest is preempted first)
  std::unique_ptr<SequenceState> probe_;         // an empty state: sizes of new sequences
  std::unique_ptr<PrefixCache> cache_;
  std::unique_ptr<DiskCache> disk_;              // null = no disk tier
  std::deque<std::shared_ptr<Job>> loading_;     // waiting for a disk entry (still queued)
  std::vector<float> logits_;                    // [parallel][n_vocab]
  std::vector<float> raw_;                       // [n_vocab] unmodified logits of one token
  EngineStats local_;                            // counters owned by the engine thread
  std::thread thread_;
};

}  // namespace lfmd
