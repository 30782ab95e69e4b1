#include "engine/confidence.h"

// The 32-byte generic vectors below never cross a non-inlined call boundary of another unit.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace lfmd {

namespace {

// Four doubles as a GCC/Clang generic vector: lowered to AVX2, SSE2 or NEON as the target has
// them, with the same lanes (and so the same sums) everywhere.
typedef double V4d __attribute__((vector_size(32)));
typedef int64_t V4l __attribute__((vector_size(32)));
typedef float V4f __attribute__((vector_size(16)));
typedef uint8_t V4b __attribute__((vector_size(4)));

// e^z for -700 <= z <= ~700 without a libm call: z = n ln2 + r with |r| <= ln2/2 (Cody-Waite),
// e^r by its degree-11 Taylor polynomial (relative error < 1e-14), 2^n through the exponent bits.
inline __attribute__((always_inline)) V4d exp4(V4d z) {
  const V4d shift = V4d{} + 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const V4d t = z * 1.4426950408889634 + shift;
  const V4d n = t - shift;
  const V4d r = (z - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  V4d p = V4d{} + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const V4l bits = reinterpret_cast<V4l>(t);  // low mantissa bits of t hold n (two's complement)
  const V4l e = (bits + 1023) << 52;
  return p * reinterpret_cast<V4d>(e);
}

// S = sum e^(l-m), T = sum e^(l-m) (l-m) over unmasked ids (mask[i] = 1: skipped), in eight
// partial sums (two vectors of four lanes) whose order is fixed; the tail is padded with masked
// ids. Built for AVX2 too on x86-64 and chosen at load time (the engine has no ISA files).
constexpr int kVecs = 4;  // independent vectors per step (the polynomial is latency-bound)
constexpr int kBlock = 4 * kVecs;

// One block of kBlock ids into the partial-sum vectors.
inline __attribute__((always_inline)) void block(const float* l, const uint8_t* mk, V4d md, V4d* s, V4d* t) {
  for (int h = 0; h < kVecs; ++h) {
    V4f lf;
    V4b mb;
    std::memcpy(&lf, l + 4 * h, sizeof lf);
    std::memcpy(&mb, mk + 4 * h, sizeof mb);
    V4d z = __builtin_convertvector(lf, V4d) - md;
    z = z < -700.0 ? V4d{} - 700.0 : z;  // also keeps masked ids (any value) in range
    z = z > 0.0 ? V4d{} : z;
    const V4d e = exp4(z) * (1.0 - __builtin_convertvector(mb, V4d));
    s[h] += e;
    t[h] += e * z;
  }
}

// S = sum e^(l-m), T = sum e^(l-m) (l-m) over unmasked ids (mask[i] = 1: skipped), in 16
// partial sums whose order is fixed; the tail is padded with masked ids. Built for AVX2 too on
// x86-64 and chosen at load time (the engine has no ISA-specific files).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
void exp_sums(const float* logits, const uint8_t* mask, int64_t n, float m, double* s_out, double* t_out) {
  V4d s[kVecs] = {}, t[kVecs] = {};
  const V4d md = V4d{} + static_cast<double>(m);
  static const uint8_t kNone[kBlock] = {};
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) block(logits + i, mask ? mask + i : kNone, md, s, t);
  if (i < n) {
    float l[kBlock] = {};
    uint8_t mk[kBlock];
    for (int j = 0; j < kBlock; ++j) {
      mk[j] = i + j < n ? (mask ? mask[i + j] : 0) : 1;
      l[j] = i + j < n ? logits[i + j] : 0.0f;
    }
    block(l, mk, md, s, t);
  }
  double ss = 0, tt = 0;
  for (int h = 0; h < kVecs; ++h) {
    for (int j = 0; j < 4; ++j) {
      ss += s[h][j];
      tt += t[h][j];
    }
  }
  *s_out = ss;
  *t_out = tt;
}

// The largest and second-largest unmasked logit, and how many ids are unmasked.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
void top2(const float* logits, const uint8_t* mask, int64_t n, float* m1_out, float* m2_out, int64_t* v_out) {
  typedef float V8f __attribute__((vector_size(32)));
  typedef uint8_t V8b __attribute__((vector_size(8)));
  V8f a = V8f{} - INFINITY, b = a;
  int64_t masked = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    V8f x;
    std::memcpy(&x, logits + i, sizeof x);
    if (mask) {
      V8b mb;
      std::memcpy(&mb, mask + i, sizeof mb);
      x = __builtin_convertvector(mb, V8f) != 0.0f ? V8f{} - INFINITY : x;
      for (int j = 0; j < 8; ++j) masked += mb[j] != 0;
    }
    b = x > b ? (x < a ? x : a) : b;  // b = max(b, min(a, x))
    a = x > a ? x : a;
  }
  float m1 = -INFINITY, m2 = -INFINITY;
  auto take = [&](float x) {
    if (x > m1) {
      m2 = m1;
      m1 = x;
    } else if (x > m2) {
      m2 = x;
    }
  };
  for (int j = 0; j < 8; ++j) take(a[j]);
  for (int j = 0; j < 8; ++j) take(b[j]);
  for (; i < n; ++i) {
    if (mask && mask[i]) {
      ++masked;
      continue;
    }
    take(logits[i]);
  }
  *m1_out = m1;
  *m2_out = m2;
  *v_out = n - masked;
}

}  // namespace

TokenConfidence token_confidence(const float* logits, const uint8_t* mask, int64_t n_vocab, int32_t chosen) {
  // Pass 1: the largest and second-largest logit, and V = number of unmasked ids.
  float m1, m2;
  int64_t v;
  top2(logits, mask, n_vocab, &m1, &m2, &v);
  TokenConfidence c;
  if (v == 0 || !std::isfinite(m1)) return c;
  // Pass 2, in double: S = sum e^(l-m1), T = sum e^(l-m1) (l-m1); H = ln S - T / S.
  double s = 0, t = 0;
  exp_sums(logits, mask, n_vocab, m1, &s, &t);
  const double log_s = std::log(s);
  const double h = std::max(0.0, log_s - t / s);
  c.entropy_confidence = v > 1 ? std::clamp(1.0 - h / std::log(static_cast<double>(v)), 0.0, 1.0) : 1.0;
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
  e_.push(c.entropy_confidence, window_);
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
  s.entropy_confidence = e_.summary(n_);
  s.logprob = l_.summary(n_);
  s.margin = m_.summary(n_);
  return s;
}

}  // namespace lfmd
