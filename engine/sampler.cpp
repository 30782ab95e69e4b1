#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace lfmd {

Sampler::Sampler(const SamplingParams& p, const std::vector<uint8_t>* never_sample)
    : p_(p), never_(never_sample), rng_(p.seed) {}

void Sampler::accept(int32_t token) {
  if (p_.penalty_last_n <= 0) return;
  recent_.push_back(token);
  while (static_cast<int32_t>(recent_.size()) > p_.penalty_last_n) recent_.pop_front();
}

int32_t Sampler::sample(float* logits, int64_t n_vocab) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (never_) {
    for (int64_t i = 0; i < n_vocab && i < static_cast<int64_t>(never_->size()); ++i) {
      if ((*never_)[i]) logits[i] = neg_inf;
    }
  }
  for (const auto& [id, bias] : p_.logit_bias) {
    if (id >= 0 && id < n_vocab && logits[id] != neg_inf) logits[id] += bias;
  }
  if (p_.repetition_penalty != 1.0f || p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f) {
    std::vector<int32_t> seen(recent_.begin(), recent_.end());
    std::sort(seen.begin(), seen.end());
    for (size_t i = 0; i < seen.size();) {
      size_t j = i;
      while (j < seen.size() && seen[j] == seen[i]) ++j;
      const int32_t t = seen[i];
      const float count = static_cast<float>(j - i);
      i = j;
      if (t < 0 || t >= n_vocab) continue;
      float& l = logits[t];
      if (p_.repetition_penalty != 1.0f) l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
      l -= p_.presence_penalty + p_.frequency_penalty * count;
    }
  }
  int32_t best = 0;
  for (int64_t i = 1; i < n_vocab; ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  int32_t chosen = best;
  if (p_.temperature > 0.0f) {
    // Candidates sorted by logit, then truncated by top-k, min-p and top-p.
    std::vector<int32_t> idx;
    idx.reserve(n_vocab);
    for (int64_t i = 0; i < n_vocab; ++i) {
      if (logits[i] != neg_inf) idx.push_back(static_cast<int32_t>(i));
    }
    std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < idx.size()) idx.resize(p_.top_k);
    const float max_l = logits[idx[0]] / p_.temperature;
    std::vector<double> prob(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) {
      prob[i] = std::exp(static_cast<double>(logits[idx[i]] / p_.temperature - max_l));
    }
    size_t keep = idx.size();
    if (p_.min_p > 0.0f) {
      // prob[0] is the largest; keep tokens with p >= min_p * p_max.
      while (keep > 1 && prob[keep - 1] < p_.min_p * prob[0]) --keep;
    }
    if (p_.top_p < 1.0f) {
      double acc = 0, total = std::accumulate(prob.begin(), prob.begin() + keep, 0.0);
      for (size_t i = 0; i < keep; ++i) {
        acc += prob[i];
        if (acc >= p_.top_p * total) {
          keep = i + 1;
          break;
        }
      }
    }
    double total = std::accumulate(prob.begin(), prob.begin() + keep, 0.0);
    // 53 random bits -> uniform in [0, 1); independent of the standard library's distributions.
    double r = static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0) * total;
    chosen = idx[keep - 1];
    for (size_t i = 0; i < keep; ++i) {
      if (r < prob[i]) {
        chosen = idx[i];
        break;
      }
      r -= prob[i];
    }
  }
  accept(chosen);
  return chosen;
}

}  // namespace lfmd
