// NEON small ops. Each evaluates the same float operations per element as the AVX2 table
// (exp polynomial, FMA chains, reduction pairings), only 4 lanes at a time where lanes are
// independent and as pairs of float32x4 where AVX2's 8 lanes meet in a reduction.
#include <algorithm>
#include <cmath>

#include "kernels/neon/common.h"

namespace lfmd::kernels::neon {

// exp with a Cody-Waite range reduction and a degree-5 minimax polynomial (Arm's
// optimized-routines scheme, which ggml and the AVX2 table use too), operation for operation.
float32x4_t exp4(float32x4_t x) {
  const float32x4_t shift = vdupq_n_f32(0x1.8p23f);  // 1.5 * 2^23: rounds to an integer
  const float32x4_t z = vfmaq_f32(shift, x, vdupq_n_f32(0x1.715476p+0f));  // x*log2(e) + shift
  const float32x4_t n = vsubq_f32(z, shift);                               // n = round(x / ln 2)
  // r = x - n*ln2, ln2 split in a high and a low part.
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0x1.62e4p-1f));
  r = vfmsq_f32(r, n, vdupq_n_f32(0x1.7f7d1cp-20f));
  const uint32x4_t e = vshlq_n_u32(vreinterpretq_u32_f32(z), 23);  // 2^n in the exponent field
  const float32x4_t scale =
      vreinterpretq_f32_u32(vaddq_u32(e, vreinterpretq_u32_f32(vdupq_n_f32(1.0f))));
  const float32x4_t r2 = vmulq_f32(r, r);
  // p(r) = exp(r) - 1 = (c1 r) + r^2 (c2 + c3 r + r^2 (c4 + c5 r)).
  const float32x4_t hi = vfmaq_f32(vdupq_n_f32(0x1.573e2ep-5f), vdupq_n_f32(0x1.0e4020p-7f), r);
  const float32x4_t lo = vfmaq_f32(vdupq_n_f32(0x1.fffdb6p-2f), vdupq_n_f32(0x1.555e66p-3f), r);
  const float32x4_t p =
      vfmaq_f32(vmulq_f32(vdupq_n_f32(0x1.ffffecp-1f), r), vfmaq_f32(lo, hi, r2), r2);
  const uint32x4_t big = vcagtq_f32(n, vdupq_n_f32(126.0f));
  if (vmaxvq_u32(big) == 0) return vfmaq_f32(scale, p, scale);
  // |n| > 126: 2^n is built from two factors so it neither overflows nor flushes early;
  // |n| > 192 saturates to inf / 0.
  const uint32x4_t neg = vandq_u32(vclezq_f32(n), vdupq_n_u32(0x82000000u));
  const float32x4_t s1 = vreinterpretq_f32_u32(vaddq_u32(neg, vdupq_n_u32(0x7f000000u)));
  const float32x4_t s2 = vreinterpretq_f32_u32(vsubq_u32(e, neg));
  const uint32x4_t huge = vcagtq_f32(n, vdupq_n_f32(192.0f));
  const float32x4_t two_step = vmulq_f32(vfmaq_f32(s2, s2, p), s1);
  const float32x4_t normal = vfmaq_f32(scale, scale, p);
  return vbslq_f32(huge, vmulq_f32(s1, s1), vbslq_f32(big, two_step, normal));
}

// Sum of squares in double in element order (as the reference), the scaling 4 lanes at a time.
void rmsnorm(const float* x, const float* w, int64_t n, float eps, float* y) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(w + i)));
  for (; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

// out = silu(gate) * up, silu(v) = v / (1 + exp(-v)). Like the AVX2 table: vector code for the
// elements in whole groups of 8, the C library's exp for the rest.
void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  const int64_t n8 = n & ~int64_t{7};
  const float32x4_t one = vdupq_n_f32(1.0f);
  for (int64_t i = 0; i < n8; i += 4) {
    const float32x4_t g = vld1q_f32(gate + i);
    const float32x4_t e = exp4(vsubq_f32(vdupq_n_f32(0.0f), g));
    vst1q_f32(out + i, vmulq_f32(vdivq_f32(g, vaddq_f32(one, e)), vld1q_f32(up + i)));
  }
  for (int64_t i = n8; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

namespace {

// Kernel taps k of channels c..c+3: interleaved [c*L + k], de-interleaved by vld2/3/4.
template <int L>
void conv_fixed(const float* const* hist, const float* cur, const float* kernel, int64_t n,
                float* out, int64_t& c_done) {
  int64_t c = 0;
  for (; c + 4 <= n; c += 4) {
    float32x4_t w[L];
    const float* kp = kernel + c * L;
    if constexpr (L == 2) {
      const float32x4x2_t v = vld2q_f32(kp);
      w[0] = v.val[0], w[1] = v.val[1];
    } else if constexpr (L == 3) {
      const float32x4x3_t v = vld3q_f32(kp);
      w[0] = v.val[0], w[1] = v.val[1], w[2] = v.val[2];
    } else {
      const float32x4x4_t v = vld4q_f32(kp);
      w[0] = v.val[0], w[1] = v.val[1], w[2] = v.val[2], w[3] = v.val[3];
    }
    float32x4_t s = vdupq_n_f32(0.0f);
    for (int k = 0; k + 1 < L; ++k) s = vfmaq_f32(s, w[k], vld1q_f32(hist[k] + c));
    vst1q_f32(out + c, vfmaq_f32(s, w[L - 1], vld1q_f32(cur + c)));
  }
  c_done = c;
}

}  // namespace

// Per channel s = fma(w_k, window_k, s) in k order from 0 (the AVX2 table's and the compiled
// llama.cpp loop's order), four channels at a time for the usual kernel lengths 2..4.
void conv_step(const float* const* hist, const float* cur, const float* kernel, int64_t L,
               int64_t n, float* out) {
  int64_t c = 0;
  if (L == 2)
    conv_fixed<2>(hist, cur, kernel, n, out, c);
  else if (L == 3)
    conv_fixed<3>(hist, cur, kernel, n, out, c);
  else if (L == 4)
    conv_fixed<4>(hist, cur, kernel, n, out, c);
  for (; c < n; ++c) {
    const float* w = kernel + c * L;
    float s = 0.0f;
    for (int64_t k = 0; k + 1 < L; ++k) s = std::fma(w[k], hist[k][c], s);
    out[c] = std::fma(w[L - 1], cur[c], s);
  }
}

}  // namespace lfmd::kernels::neon
