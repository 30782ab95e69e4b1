// Token sampling: penalties, temperature, top-k / top-p / min-p, seeded RNG. Greedy when
// temperature <= 0 (ties go to the lowest id). Masked ids (padding, unused) are never chosen.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <utility>
#include <vector>

namespace lfmd {

struct SamplingParams {
  float temperature = 0.3f;         // LFM2 model-card defaults
  float top_p = 1.0f;
  int32_t top_k = 0;                // 0 = off
  float min_p = 0.15f;
  float repetition_penalty = 1.05f; // 1 = off; applied over the last `penalty_last_n` tokens
  int32_t penalty_last_n = 64;
  float presence_penalty = 0.0f;    // OpenAI: minus this once for any token in the window
  float frequency_penalty = 0.0f;   // OpenAI: minus this times the token's count in the window
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logits first
  uint64_t seed = 0;
};

class Sampler {
 public:
  Sampler(const SamplingParams& p, const std::vector<uint8_t>* never_sample);
  // Picks the next token from logits[n_vocab] (modified in place) and records it.
  int32_t sample(float* logits, int64_t n_vocab);
  void accept(int32_t token);  // record a prompt/forced token for the penalties

 private:
  int32_t sample_tempered(const float* logits, int64_t n_vocab);

  SamplingParams p_;
  std::vector<int32_t> idx_;  // candidate ids (scratch reused between calls)
  const std::vector<uint8_t>* never_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
};

}  // namespace lfmd
