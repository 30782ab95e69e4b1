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
  if (p_.temperature > 0.0f) chosen = sample_tempered(logits, n_vocab);
  accept(chosen);
  return chosen;
}

// Candidates in order of decreasing logit (ties: lower id first), truncated by top-k, then min-p,
// then top-p, then one draw. The order is materialised lazily (nth_element + sort of a growing
// prefix), which yields exactly the prefix a full sort would, at O(V) instead of O(V log V).
int32_t Sampler::sample_tempered(const float* logits, int64_t n_vocab) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<int32_t>& idx = idx_;
  idx.clear();
  float max_logit = neg_inf;
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (logits[i] != neg_inf) {
      idx.push_back(static_cast<int32_t>(i));
      max_logit = std::max(max_logit, logits[i]);
    }
  }
  auto before = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  size_t sorted = 0;
  auto sort_prefix = [&](size_t n) {  // idx[0, n) in final order
    n = std::min(n, idx.size());
    if (n <= sorted) return;
    if (n < idx.size()) std::nth_element(idx.begin() + sorted, idx.begin() + n, idx.end(), before);
    std::sort(idx.begin() + sorted, idx.begin() + n, before);
    sorted = n;
  };
  size_t keep = idx.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) {
    sort_prefix(p_.top_k);
    keep = p_.top_k;
  }
  // Unnormalised probabilities relative to the most likely token (which has 1).
  const double inv_t = 1.0 / p_.temperature;
  const float max_l = static_cast<float>(max_logit * inv_t);
  auto prob = [&](int32_t id) { return std::exp(static_cast<double>(static_cast<float>(logits[id] * inv_t) - max_l)); };
  // Sum over the kept set (index order when nothing was cut, so no sort is needed for it).
  double total = 0;
  if (keep == idx.size()) {
    size_t n_min_p = 0;
    for (int32_t id : idx) {
      const double q = prob(id);
      if (p_.min_p > 0.0f && q < p_.min_p) continue;  // min_p: keep p >= min_p * p_max (= 1)
      total += q;
      ++n_min_p;
    }
    keep = n_min_p;
  } else {
    size_t n_min_p = 0;
    for (size_t i = 0; i < keep; ++i) {
      const double q = prob(idx[i]);
      if (p_.min_p > 0.0f && q < p_.min_p) break;
      total += q;
      ++n_min_p;
    }
    keep = n_min_p;
  }
  keep = std::max<size_t>(keep, 1);
  // Walks the kept candidates in order, extending the sorted prefix on demand; returns the
  // position where the running sum first exceeds `target` (the last kept one if never).
  auto walk = [&](double target, double* sum_out) {
    double acc = 0;
    size_t chunk = 64;
    for (size_t i = 0; i < keep; ++i) {
      if (i >= sorted) {
        sort_prefix(std::min(keep, sorted + chunk));
        chunk *= 2;
      }
      acc += prob(idx[i]);
      if (acc > target) {
        if (sum_out) *sum_out = acc;
        return i;
      }
    }
    if (sum_out) *sum_out = acc;
    return keep - 1;
  };
  if (p_.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p of the kept mass.
    double acc = 0;
    const size_t last = walk(std::nextafter(p_.top_p * total, -1.0), &acc);
    keep = last + 1;
    total = acc;
  }
  // 53 random bits -> uniform in [0, 1); independent of the standard library's distributions.
  const double r = static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0) * total;
  return idx[walk(r, nullptr)];
}

}  // namespace lfmd
