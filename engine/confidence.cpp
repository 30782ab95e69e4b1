#include "engine/confidence.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lfmd {

TokenConfidence token_confidence(const float* logits, const uint8_t* mask, int64_t n_vocab, int32_t chosen) {
  // Pass 1: the largest and second-largest logit, and V = number of unmasked ids.
  float m1 = -INFINITY, m2 = -INFINITY;
  int64_t v = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (mask && mask[i]) continue;
    ++v;
    const float x = logits[i];
    if (x > m1) {
      m2 = m1;
      m1 = x;
    } else if (x > m2) {
      m2 = x;
    }
  }
  TokenConfidence c;
  if (v == 0 || !std::isfinite(m1)) return c;
  // Pass 2, in double: S = sum e^(l-m1), T = sum e^(l-m1) (l-m1); H = ln S - T / S.
  double s = 0, t = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (mask && mask[i]) continue;
    const double z = static_cast<double>(logits[i]) - static_cast<double>(m1);
    const double e = std::exp(z);
    s += e;
    t += e * z;
  }
  const double log_s = std::log(s);
  const double h = std::max(0.0, log_s - t / s);
  c.entropy = v > 1 ? std::clamp(1.0 - h / std::log(static_cast<double>(v)), 0.0, 1.0) : 1.0;
  const bool chosen_ok = chosen >= 0 && chosen < n_vocab && !(mask && mask[chosen]);
  c.logprob = chosen_ok ? static_cast<double>(logits[chosen]) - static_cast<double>(m1) - log_s
                        : -std::numeric_limits<double>::infinity();
  const double p1 = 1.0 / s;
  const double p2 = v > 1 ? std::exp(static_cast<double>(m2) - static_cast<double>(m1)) / s : 0.0;
  c.margin = p1 - p2;
  return c;
}

ConfidenceTracker::ConfidenceTracker(const std::vector<uint8_t>* mask, int64_t n_vocab, int32_t window)
    : mask_(mask), n_vocab_(n_vocab), window_(std::max<int32_t>(1, window)) {}

TokenConfidence ConfidenceTracker::observe(const float* logits, int32_t chosen) {
  TokenConfidence c = token_confidence(logits, mask_ ? mask_->data() : nullptr, n_vocab_, chosen);
  add(c);
  return c;
}

void ConfidenceTracker::add(const TokenConfidence& c) {
  e_.push(c.entropy, window_);
  l_.push(c.logprob, window_);
  m_.push(c.margin, window_);
  ++n_;
}

void ConfidenceTracker::Running::push(double v, int32_t window) {
  if (recent.empty()) first = v;  // only before the first value
  sum += v;
  recent.push_back(v);
  if (static_cast<int32_t>(recent.size()) > window) {
    recent.pop_front();
  }
  if (static_cast<int32_t>(recent.size()) == window) {
    // Recomputed from the window itself so that rounding does not drift over long responses.
    double w = 0;
    for (double x : recent) w += x;
    const double mean = w / window;
    min_window = full ? std::min(min_window, mean) : mean;
    full = true;
  }
}

SignalSummary ConfidenceTracker::Running::summary(int64_t n) const {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (n == 0) return {nan, nan, nan};
  const double mean = sum / static_cast<double>(n);
  return {mean, full ? min_window : mean, first};
}

ConfidenceSummary ConfidenceTracker::summary() const {
  ConfidenceSummary s;
  s.n = n_;
  s.window = window_;
  s.entropy = e_.summary(n_);
  s.logprob = l_.summary(n_);
  s.margin = m_.summary(n_);
  return s;
}

}  // namespace lfmd
