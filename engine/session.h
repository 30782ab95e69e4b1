// One sequence driven synchronously: chunked prefill and single-token decode steps (CLI tools,
// benchmarks). The server goes through the Engine's scheduler instead.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "engine/loader.h"

namespace lfmd {

// A prompt (plus requested tokens) that does not fit the context. Never truncated silently.
struct ContextOverflow : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Session {
 public:
  explicit Session(LoadedModel& m);
  int64_t n_past() const { return seq_->n_past(); }
  int64_t n_ctx() const { return seq_->n_ctx(); }
  void reset() { seq_->reset(); }

  // Runs tokens in chunks of max_batch. Returns the logits [n_vocab] of the last token.
  // progress(done, total) after each chunk. Throws ContextOverflow before touching any state.
  const std::vector<float>& prefill(const std::vector<int32_t>& tokens,
                                    const std::function<void(int64_t, int64_t)>& progress = {});
  // Appends one token and returns its logits [n_vocab].
  const std::vector<float>& step(int32_t token) { return prefill({token}); }

 private:
  LoadedModel& m_;
  std::unique_ptr<SequenceState> seq_;
  std::vector<float> logits_;
  Batch batch_;
};

// Logits of every position of `tokens` (fresh sequence), delivered in chunks:
// sink(first_position, rows [n][n_vocab], n). Throws ContextOverflow when too long.
void compute_all_logits(LoadedModel& m, const std::vector<int32_t>& tokens,
                        const std::function<void(int64_t, const float*, int64_t)>& sink);

// "input of N tokens does not fit the context of C tokens (K too many); nothing was truncated"
// (the CLI's and the engine's wording; the HTTP API words it as OpenAI does, api::context_length_exceeded).
std::string input_too_long_message(int64_t n_ctx, int64_t n_tokens);

}  // namespace lfmd
