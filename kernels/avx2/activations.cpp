// AVX2 element-wise activations. exp is evaluated with a Cody-Waite range reduction and a
// degree-5 minimax polynomial (the well-known single-precision scheme from Arm's optimized-routines,
// which ggml uses too), so SiLU here rounds like llama.cpp's x86 build: on random-weight models any
// 1-ulp difference before an int8 activation quantization is amplified, so matching it matters.
#include <cmath>

#include "kernels/avx2/common.h"

namespace lfmd::kernels::avx2 {

__m256 exp8(__m256 x) {
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);        // 1.5 * 2^23: rounds to an integer
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);  // x*log2(e) + shift
  const __m256 n = _mm256_sub_ps(z, shift);               // n = round(x / ln 2)
  // r = x - n*ln2, ln2 split in a high and a low part.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), r);
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);  // 2^n in the exponent field
  const __m256 scale = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
  const __m256 r2 = _mm256_mul_ps(r, r);
  // p(r) = exp(r) - 1 = c1 r + c2 r^2 + ... + c5 r^5, evaluated as (c1 r) + r^2 (c2 + c3 r + r^2 (c4 + c5 r)).
  const __m256 hi = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), r, _mm256_set1_ps(0x1.573e2ep-5f));
  const __m256 lo = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), r, _mm256_set1_ps(0x1.fffdb6p-2f));
  const __m256 p = _mm256_fmadd_ps(_mm256_fmadd_ps(hi, r2, lo), r2, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), r));
  const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(126.0f), _CMP_GT_OQ);
  if (!_mm256_movemask_ps(big)) return _mm256_fmadd_ps(p, scale, scale);
  // |n| > 126: 2^n is built from two factors so it neither overflows nor flushes early;
  // |n| > 192 saturates to inf / 0.
  const __m256i neg = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32(static_cast<int>(0x82000000u)));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(neg, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, neg));
  const __m256 huge = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(192.0f), _CMP_GT_OQ);
  const __m256 two_step = _mm256_mul_ps(_mm256_fmadd_ps(s2, p, s2), s1);
  const __m256 normal = _mm256_fmadd_ps(scale, p, scale);
  return _mm256_blendv_ps(_mm256_blendv_ps(normal, two_step, big), _mm256_mul_ps(s1, s1), huge);
}

namespace {

// silu(v) = v / (1 + exp(-v))
inline __m256 silu8(__m256 v) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
  return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

}  // namespace

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace lfmd::kernels::avx2

namespace lfmd::kernels::avx2 {

// Same sums as the scalar reference, but each product is fused into the running sum
// (s = fma(w_k, x_k, s)), which is how the compiled llama.cpp x86 build evaluates its conv loop.
void conv_step(const float* const* hist, const float* cur, const float* kernel, int64_t L, int64_t n,
               float* out) {
  for (int64_t c = 0; c < n; ++c) {
    const float* w = kernel + c * L;
    float s = 0.0f;
    for (int64_t k = 0; k + 1 < L; ++k) s = std::fma(w[k], hist[k][c], s);
    out[c] = std::fma(w[L - 1], cur[c], s);
  }
}

}  // namespace lfmd::kernels::avx2
