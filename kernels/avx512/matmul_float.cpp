// AVX-512 prefill matmul for float weights (F32, F16, BF16) against f32 activations. A zmm holds
// two rows' 8-lane accumulators (lanes 0..7 row i, 8..15 row i+1) and takes the same FMAs, in
// the same order, as the AVX2 kernel's ymm accumulators (kernels/avx2/matmul_float.cpp): one
// 8-wide step of x is broadcast to both halves, so each zmm FMA does two rows' work and results
// are bit-identical to the AVX2 table. Decode (one token) stays on the AVX2 kernel's one stream;
// so do rows whose length is not a multiple of 8 (see avx512::matmul).
// Compiled with AVX-512 flags: only intrinsics, local helpers and the static ones of lane_helpers.h (no shared inline code).
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "kernels/avx2/lane_helpers.h"  // static: compiled under this file's flags
#include "kernels/avx2/common.h"  // declarations (MatCtx, TileSet, run_tiles); no inline use
#include "kernels/avx512/avx512.h"

namespace lfmd::kernels::avx512 {

namespace {

inline __m128i ld128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
// Weights i..i+7 of row a (low half) and of row b (high half) as f32.
template <DType WT>
inline __m512 load8x2(const uint8_t* a, const uint8_t* b, int64_t i) {
  if constexpr (WT == DType::F32) {
    const __m256d lo = _mm256_loadu_pd(reinterpret_cast<const double*>(a + 4 * i));
    const __m256d hi = _mm256_loadu_pd(reinterpret_cast<const double*>(b + 4 * i));
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(lo), hi, 1));
  } else {
    const __m256i h =
        _mm256_inserti128_si256(_mm256_castsi128_si256(ld128(a + 2 * i)), ld128(b + 2 * i), 1);
    if constexpr (WT == DType::F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));  // BF16
  }
}
using x86::hsum8;  // avx2::hsum's order

// NR rows (1 or even; a lone row fills both halves) x NT tokens.
template <DType WT>
struct FloatTile {
  template <int NR, int NT>
  struct K {
    static constexpr int kP = (NR + 1) / 2;  // row pairs
    static void run(const avx2::MatCtx& c, int64_t r, int64_t t0) {
      const PreparedActs& a = *c.acts;
      const int64_t n = a.n_in;
      const uint8_t* rows[NR];
      const float* xs[NT];
      for (int i = 0; i < NR; ++i) rows[i] = c.w + (r + i) * c.rb;
      for (int t = 0; t < NT; ++t) xs[t] = a.x + (t0 + t) * a.ldx;
      __m512 acc[kP][NT];
      for (int p = 0; p < kP; ++p)
        for (int t = 0; t < NT; ++t) acc[p][t] = _mm512_setzero_ps();
      const x86::RowsAhead ahead(c.w, c.rb, r, NR, WT == DType::F32 ? 32u : 16u, NR > 1 && t0 == 0);
      for (int64_t k = 0; k < n; k += 8) {
        ahead.at(k / 8);
        __m512 wv[kP];
        for (int p = 0; p < kP; ++p)
          wv[p] = load8x2<WT>(rows[2 * p], rows[NR == 1 ? 0 : 2 * p + 1], k);
        for (int t = 0; t < NT; ++t) {
          const __m256d x8 = _mm256_loadu_pd(reinterpret_cast<const double*>(xs[t] + k));
          const __m512 xv = _mm512_castpd_ps(_mm512_broadcast_f64x4(x8));
          for (int p = 0; p < kP; ++p) acc[p][t] = _mm512_fmadd_ps(wv[p], xv, acc[p][t]);
        }
      }
      for (int i = 0; i < NR; ++i) {
        for (int t = 0; t < NT; ++t) {
          const __m512d z = _mm512_castps_pd(acc[i / 2][t]);
          const __m256 half =
              _mm256_castpd_ps(i % 2 ? _mm512_extractf64x4_pd(z, 1) : _mm512_castpd512_pd256(z));
          c.y[(t0 + t) * c.ldy + r + i] = hsum8(half);  // n % 8 == 0: no scalar tail
        }
      }
    }
  };
};

// Prefill: 4 rows x 4 tokens = 8 zmm accumulators (decode goes to the AVX2 kernel).
constexpr avx2::TileSet kF32Tiles = avx2::make_tiles<FloatTile<DType::F32>::K, 1, 4, 4>();
constexpr avx2::TileSet kF16Tiles = avx2::make_tiles<FloatTile<DType::F16>::K, 1, 4, 4>();
constexpr avx2::TileSet kBF16Tiles = avx2::make_tiles<FloatTile<DType::BF16>::K, 1, 4, 4>();

}  // namespace

void float_prefill(DType wt, const avx2::MatCtx& c, int64_t r0, int64_t r1) {
  const avx2::TileSet& tiles = wt == DType::F32   ? kF32Tiles
                               : wt == DType::F16 ? kF16Tiles
                                                  : kBF16Tiles;
  avx2::run_tiles(tiles, c, r0, r1, c.acts->n_tok);
}

}  // namespace lfmd::kernels::avx512
