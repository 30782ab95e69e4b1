// Per-request constraint on the tokens a generation may sample (constrained decoding). The
// engine calls, once per sampled token:
//   constraint->mask_logits(logits, n_vocab);   // disallowed ids -> -inf, before the sampler
//   tok = sampler.sample(logits, n_vocab);
//   constraint->accept(tok);
// Implementations (engine/grammar/) never leave every id masked: at least one allowed token
// always exists, and a finished grammar allows exactly the end-of-turn tokens.
#pragma once

#include <cstdint>
#include <memory>

namespace lfmd {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Sets logits[i] = -inf for every id not allowed at this step (no-op when all are allowed).
  virtual void mask_logits(float* logits, int64_t n_vocab) = 0;
  // Records the sampled token. Throws std::runtime_error for a token the mask did not allow.
  virtual void accept(int32_t token) = 0;
};

}  // namespace lfmd
