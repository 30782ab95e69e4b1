// AVX-512 VNNI prefill matmul for file-layout Q8_0 weights against the AVX2 table's prepared Q8_0
// activations. A zmm holds two rows' 8-lane accumulators (lanes 0..7 row i, 8..15 row i+1) for one
// token: the two rows' 32-byte blocks side by side, the token's block broadcast to both halves.
// Per block and token one vpdpbusd gives the AVX2 kernel's 8 int32 lanes of four products for
// both rows (exact integers), where that kernel spends vpsignb + vpmaddubsw + vpmaddwd per row;
// the floats then follow its operations (acc = fma(float(isum), d_w * d_a, acc) per block, its
// horizontal sum), so results are bit-identical to the AVX2 table. Decode stays on the AVX2
// kernel's one-row stream.
// Compiled with AVX-512 flags: only intrinsics, local helpers and the static ones of
// lane_helpers.h (no shared inline code).
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "kernels/avx2/common.h"        // declarations (MatCtx, TileSet, run_tiles); no inline use
#include "kernels/avx2/lane_helpers.h"  // static: compiled under this file's flags

namespace lfmd::kernels::avx512 {

namespace {

using x86::f16;
using x86::hsum8;
using x86::ld256;

constexpr size_t kBlockBytes = 34;  // fp16 d + 32 int8

// NR rows from r (pairs of rows per zmm; NR = 1: the row twice, the high half unused) x NT tokens
// from t0. Signed x signed through vpdpbusd: a + 128 (unsigned) times w, started from -128 sum(w)
// per lane (a property of the weights, one vpdpbusd per pair and block for all tokens), which is
// the exact sum of w * a; |sum| < 2^17, no overflow.
template <int NR, int NT>
struct Q8_0Tile {
  static void run(const avx2::MatCtx& c, int64_t r, int64_t t0) {
    static_assert(NR == 1 || NR == 2 || NR == 4);
    constexpr int NP = (NR + 1) / 2;
    const avx2::Q8_0ActsLayout l = avx2::q8_0_acts_layout(c.acts->n_in);
    const uint8_t* tok[NT];
    for (int t = 0; t < NT; ++t) tok[t] = static_cast<const uint8_t*>(c.q) + (t0 + t) * l.stride;
    const uint8_t* rows[2 * NP];
    for (int i = 0; i < 2 * NP; ++i) rows[i] = c.w + (r + (NR == 1 ? 0 : i)) * c.rb;
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512 acc[NP][NT];
    for (int p = 0; p < NP; ++p)
      for (int t = 0; t < NT; ++t) acc[p][t] = _mm512_setzero_ps();
    const x86::RowsAhead ahead(c.w, c.rb, r, NR, kBlockBytes, NR > 1 && t0 == 0);
    for (int64_t b = 0; b < l.nb; ++b) {
      // One core from DRAM, 2048 columns: 2 tokens 9.2 -> 19.8 GB/s, 8 tokens 45 -> 92 GMAC/s.
      ahead.at(b);
      __m512 dw[NP];
      __m512i w[NP], corr[NP];
      for (int p = 0; p < NP; ++p) {
        const uint8_t* b0 = rows[2 * p] + kBlockBytes * b;
        const uint8_t* b1 = rows[2 * p + 1] + kBlockBytes * b;
        dw[p] = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(f16(b0))),
                                                    _mm256_castps_pd(_mm256_set1_ps(f16(b1))), 1));
        w[p] = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(b0 + 2)), ld256(b1 + 2), 1);
        corr[p] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                   _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, w[p]));
      }
      for (int t = 0; t < NT; ++t) {
        const __m512i au = _mm512_xor_si512(_mm512_broadcast_i64x4(ld256(tok[t] + 32 * b)), bias);
        const __m512 da = _mm512_set1_ps(reinterpret_cast<const float*>(tok[t] + l.d_off)[b]);
        for (int p = 0; p < NP; ++p) {
          const __m512i s = _mm512_dpbusd_epi32(corr[p], au, w[p]);
          acc[p][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw[p], da), acc[p][t]);
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      float* y = c.y + (t0 + t) * c.ldy + r;
      for (int p = 0; p < NP; ++p) {
        y[2 * p] = hsum8(_mm512_castps512_ps256(acc[p][t]));
        if (NR > 1)
          y[2 * p + 1] =
              hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[p][t]), 1)));
      }
    }
  }
};

// Prefill: 4 rows x 8 tokens (16 zmm accumulators); the last rows of a range one at a time.
constexpr avx2::TileSet kQ8_0Tiles = avx2::make_tiles<Q8_0Tile, 1, 4, 8>();

}  // namespace

void q8_0_prefill(const avx2::MatCtx& c, int64_t r0, int64_t r1) {
  avx2::run_tiles(kQ8_0Tiles, c, r0, r1, c.acts->n_tok);
}

}  // namespace lfmd::kernels::avx512
