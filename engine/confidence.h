// Confidence signals of generated tokens, from the model's full next-token distribution
// (softmax of the raw logits, before penalties / temperature / truncation), and their per-request
// summary. Padding / unused ids (LoadedModel::never_sample) are outside the distribution, and the
// vocabulary size V in the normalised entropy counts only the ids that can be sampled, so that a
// uniform distribution over them scores exactly 0 and a one-hot one exactly 1.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

namespace lfmd {

// One sampled (or forced) token.
struct TokenConfidence {
  double entropy_confidence = 1.0;  // 1 - H(p) / ln(V), H in nats over the unmasked ids; in [0, 1]
  double logprob = 0.0;  // ln p(chosen)
  double margin = 0.0;   // p(top-1) - p(top-2), in [0, 1]
};

// mean over the response, minimum of the mean over any `window` consecutive tokens (the mean of
// all tokens while fewer have been seen), and the value of the first token. NaN while n == 0.
struct SignalSummary {
  double mean, min_window, first;
};

struct ConfidenceSummary {
  int64_t n = 0;        // tokens seen (the end-of-turn token included: stopping is a choice)
  int32_t window = 0;
  SignalSummary entropy_confidence{}, logprob{}, margin{};
};

// Signals of `chosen` under logits[n_vocab]; mask[i] = 1 excludes id i (mask may be null).
// One pass for the maximum and second maximum, one pass of exp in double (O(V)).
TokenConfidence token_confidence(const float* logits, const uint8_t* mask, int64_t n_vocab, int32_t chosen);

// Per-request accumulator. observe() computes and records one token's signals.
class ConfidenceTracker {
 public:
  ConfidenceTracker(const std::vector<uint8_t>* mask, int64_t n_vocab, int32_t window);
  TokenConfidence observe(const float* logits, int32_t chosen);
  void add(const TokenConfidence& c);  // record signals computed elsewhere
  ConfidenceSummary summary() const;
  int64_t count() const { return n_; }

 private:
  struct Running {
    double sum = 0, first = 0, min_window = 0;
    bool full = false;          // a whole window has been seen
    std::deque<double> recent;  // the last `window` values
    void push(double v, int32_t window);
    SignalSummary summary(int64_t n) const;
  };
  const std::vector<uint8_t>* mask_;
  int64_t n_vocab_;
  int32_t window_;
  int64_t n_ = 0;
  Running e_, l_, m_;
};

}  // namespace lfmd
