// AVX2 matmul on repacked Q4_0 / Q8_0 matrices (layout in kernels.h, kRepackRows = 8).
// One 32-byte load holds 4 quant bytes of each of 8 rows; multiplied (vpmaddubsw) by one
// broadcast 4-byte group of int8 activations it yields partial dots of 8 rows in 8 lanes, so the
// unpacked weights feed 8 output rows with no horizontal sums. Q4_0 keeps unsigned nibbles and
// accumulates the 8 products of a 32-column block in int16 (|sum| <= 8 * 2 * 15 * 127 = 30480),
// then subtracts 8 * sum(a) (prepared per block) for the -8 bias: one float FMA per block and
// 8 rows.
#include <algorithm>

#include "kernels/avx2/common.h"

namespace lfmd::kernels::avx2 {

namespace {

inline __m256i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

struct TokPtrs {
  const uint8_t* qs;
  const float* d;
  const int32_t* s8;
};

template <int NT>
void q4_0_group(const uint8_t* g, int64_t nb, const TokPtrs* tok, float* y, int64_t ldy) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += 144) {
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
    __m256i q[8];
    for (int u = 0; u < 4; ++u) {
      const __m256i raw = loadu(g + 16 + 32 * u);
      q[u] = _mm256_and_si256(raw, m4);                         // columns 4u..4u+3
      q[u + 4] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);  // columns 16+4u..16+4u+3
    }
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = tok[t].qs + 32 * b;
      __m256i s0 = _mm256_maddubs_epi16(q[0], bcast4(a));
      __m256i s1 = _mm256_maddubs_epi16(q[1], bcast4(a + 4));
      s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[2], bcast4(a + 8)));
      s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(q[3], bcast4(a + 12)));
      s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[4], bcast4(a + 16)));
      s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(q[5], bcast4(a + 20)));
      s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[6], bcast4(a + 24)));
      s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(q[7], bcast4(a + 28)));
      const __m256i i32 = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_add_epi16(s0, s1), ones),
                                           _mm256_set1_epi32(tok[t].s8[b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, _mm256_set1_ps(tok[t].d[b])), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q8_0: |w| (unsigned) times sign(w)*a, each 4-column product pair widened to int32 (two
// products of 128 * 127 would overflow int16).
template <int NT>
void q8_0_group(const uint8_t* g, int64_t nb, const TokPtrs* tok, float* y, int64_t ldy) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += 272) {
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
    __m256i q[8], qa[8];
    for (int u = 0; u < 8; ++u) {
      q[u] = loadu(g + 16 + 32 * u);
      qa[u] = _mm256_sign_epi8(q[u], q[u]);
    }
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = tok[t].qs + 32 * b;
      __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
      for (int u = 0; u < 8; u += 2) {
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(qa[u], _mm256_sign_epi8(bcast4(a + 4 * u), q[u])), ones));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(qa[u + 1], _mm256_sign_epi8(bcast4(a + 4 * u + 4), q[u + 1])), ones));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)),
                               _mm256_mul_ps(dw, _mm256_set1_ps(tok[t].d[b])), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

using GroupFn = void (*)(const uint8_t*, int64_t, const TokPtrs*, float*, int64_t);
constexpr int kNT = 4;
constexpr GroupFn kQ4_0[kNT] = {q4_0_group<1>, q4_0_group<2>, q4_0_group<3>, q4_0_group<4>};
constexpr GroupFn kQ8_0[kNT] = {q8_0_group<1>, q8_0_group<2>, q8_0_group<3>, q8_0_group<4>};

}  // namespace

void matmul_repacked(DType wt, const MatCtx& c, int64_t n_rows, int64_t r0, int64_t r1) {
  const int64_t full = n_rows / kRepackRows * kRepackRows;
  const int64_t g_lim = std::min(r1, full);                        // rows computed from groups
  const int64_t g_end = g_lim / kRepackRows * kRepackRows;            // whole groups in range
  const int64_t n_tok = c.acts->n_tok;
  if (r0 < g_lim) {
    const Q8_0ActsLayout l = q8_0_acts_layout(c.acts->n_in);
    const size_t gb = c.rb * kRepackRows;  // bytes per group
    const GroupFn* fns = wt == DType::Q4_0 ? kQ4_0 : kQ8_0;
    auto tok_ptrs = [&](int64_t t) {
      const uint8_t* base = static_cast<const uint8_t*>(c.q) + t * l.stride;
      return TokPtrs{base, reinterpret_cast<const float*>(base + l.d_off), reinterpret_cast<const int32_t*>(base + l.s8_off)};
    };
    if (n_tok == 1) {
      const TokPtrs tp = tok_ptrs(0);
      for (int64_t r = r0; r < g_end; r += kRepackRows) fns[0](c.w + (r / kRepackRows) * gb, l.nb, &tp, c.y + r, c.ldy);
    } else {
      // Groups in chunks of ~128 KiB of weights, so they stay in L2 while every token tile reads them.
      const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>((128u << 10) / gb)) * kRepackRows;
      for (int64_t rc = r0; rc < g_end; rc += chunk) {
        const int64_t re = std::min(g_end, rc + chunk);
        for (int64_t t0 = 0; t0 < n_tok; t0 += kNT) {
          const int nt = static_cast<int>(std::min<int64_t>(kNT, n_tok - t0));
          TokPtrs tp[kNT];
          for (int t = 0; t < nt; ++t) tp[t] = tok_ptrs(t0 + t);
          for (int64_t r = rc; r < re; r += kRepackRows) {
            fns[nt - 1](c.w + (r / kRepackRows) * gb, l.nb, tp, c.y + t0 * c.ldy + r, c.ldy);
          }
        }
      }
    }
    if (g_lim > g_end && g_lim > r0) {
      // A range ending inside a group: compute the whole group aside, keep the rows asked for.
      const int64_t gr = std::max(r0, g_end);
      float tmp[kNT * kRepackRows];
      for (int64_t t0 = 0; t0 < n_tok; t0 += kNT) {
        const int nt = static_cast<int>(std::min<int64_t>(kNT, n_tok - t0));
        TokPtrs tp[kNT];
        for (int t = 0; t < nt; ++t) tp[t] = tok_ptrs(t0 + t);
        fns[nt - 1](c.w + (gr / kRepackRows) * gb, l.nb, tp, tmp, kRepackRows);
        for (int t = 0; t < nt; ++t)
          for (int64_t r = gr; r < g_lim; ++r) c.y[(t0 + t) * c.ldy + r] = tmp[t * kRepackRows + (r - gr)];
      }
    }
  }
  // Rows past the last full group keep the original format, at the same offsets (rb per row).
  if (r1 > full) matmul_q8_0(wt, c, std::max(r0, full), r1);
}

}  // namespace lfmd::kernels::avx2
