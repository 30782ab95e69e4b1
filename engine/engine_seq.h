// The engine's private records of a request (engine.cpp, engine_memory.cpp): the queued Job and
// the running (or paused) Seq. Only the engine thread touches them, but for Job::cancelled.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "engine/engine.h"

namespace lfmd {

struct Engine::Job {
  uint64_t id = 0;
  GenerateRequest req;
  std::shared_ptr<RequestStream> stream;
  std::atomic<bool> cancelled{false};
  bool disk_checked = false;                  // the disk index was asked once
  uint64_t disk_id = 0;                       // entry being read for this request
  std::vector<int32_t> disk_tokens;           // an entry read from disk for this request
  std::unique_ptr<SequenceState> disk_state;
  bool waited_for_memory = false;             // counted once in memory_waits_total
};

// A running request: its sequence state and the tokens that state holds.
struct Engine::Seq {
  std::shared_ptr<Job> job;
  std::unique_ptr<SequenceState> state;
  std::vector<int32_t> fed;   // tokens whose effect is in `state` (prompt prefix, then generated)
  int64_t n_prompt = 0;
  int64_t n_cached = 0;       // prompt tokens restored from a cached prefix
  const char* cache_source = "";  // "memory" | "disk"
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<IncrementalDetokenizer> detok;
  std::unique_ptr<ConfidenceTracker> confidence;  // when the request wants confidence signals
  int64_t n_gen = 0;          // tokens sampled so far
  int32_t pending = -1;       // sampled token to feed at the next step (decode phase)
  int64_t logits_row = -1;    // row of this step's logits, -1 if none
  bool done = false;
  uint64_t order = 0;         // admission order, kept across a pause
  // After a pause: every token that was fed (prompt and generated); they are fed again before
  // `pending` (the next token, already sampled) continues the decoding. Empty otherwise.
  std::vector<int32_t> refeed;

  // Tokens fed before decoding: the prompt, or all that was fed before a pause.
  const std::vector<int32_t>& target() const { return refeed.empty() ? job->req.prompt : refeed; }
  bool prefilling() const { return fed.size() < target().size(); }
};

}  // namespace lfmd
