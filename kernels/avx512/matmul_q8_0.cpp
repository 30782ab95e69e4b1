// AVX-512 VNNI prefill matmul for file-layout Q8_0 weights against the AVX2 table's prepared Q8_0
// activations. A zmm holds two rows' 8-lane accumulators (lanes 0..7 row i, 8..15 row i+1) for one
// token: the two rows' 32-byte blocks side by side, the token's block broadcast to both halves.
// Per block and token one vpdpbusd (|w| unsigned times a with the sign of w moved onto it, by a
// mask from the weights' sign bits) gives the AVX2 kernel's 8 int32 lanes of four products for
// both rows, where that kernel spends vpsignb + vpmaddubsw + vpmaddwd per row; the floats then
// follow its operations (acc = fma(float(isum), d_w * d_a, acc) per block, its horizontal sum), so
// results are bit-identical to the AVX2 table. Decode stays on the AVX2 kernel's one-row stream.
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

// Rows r and r + NR - 1 (the same row twice when NR = 1) x NT tokens from t0.
template <int NR, int NT>
struct Q8_0Tile {
  static void run(const avx2::MatCtx& c, int64_t r, int64_t t0) {
    static_assert(NR == 1 || NR == 2);
    const avx2::Q8_0ActsLayout l = avx2::q8_0_acts_layout(c.acts->n_in);
    const uint8_t* tok[NT];
    for (int t = 0; t < NT; ++t) tok[t] = static_cast<const uint8_t*>(c.q) + (t0 + t) * l.stride;
    const uint8_t* row0 = c.w + r * c.rb;
    const uint8_t* row1 = row0 + (NR - 1) * c.rb;
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < l.nb; ++b) {
      const uint8_t* b0 = row0 + kBlockBytes * b;
      const uint8_t* b1 = row1 + kBlockBytes * b;
      const __m512 dw = _mm512_castpd_ps(_mm512_insertf64x4(
          _mm512_castps_pd(_mm512_set1_ps(f16(b0))), _mm256_castps_pd(_mm256_set1_ps(f16(b1))), 1));
      const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(b0 + 2)), ld256(b1 + 2), 1);
      const __m512i wa = _mm512_abs_epi8(w);  // -128 stays 0x80 = 128 unsigned
      const __mmask64 neg = _mm512_movepi8_mask(w);
      for (int t = 0; t < NT; ++t) {
        const __m512i a = _mm512_broadcast_i64x4(ld256(tok[t] + 32 * b));
        const __m512i as = _mm512_mask_sub_epi8(a, neg, zero, a);  // |a| <= 127: no overflow
        const __m512i s = _mm512_dpbusd_epi32(zero, wa, as);
        const __m512 da = _mm512_set1_ps(reinterpret_cast<const float*>(tok[t] + l.d_off)[b]);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, da), acc[t]);
      }
    }
    for (int t = 0; t < NT; ++t) {
      float* y = c.y + (t0 + t) * c.ldy + r;
      y[0] = hsum8(_mm512_castps512_ps256(acc[t]));
      if (NR == 2)
        y[1] = hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t]), 1)));
    }
  }
};

// Prefill: 2 rows x 8 tokens (8 zmm accumulators); a last odd row alone.
constexpr avx2::TileSet kQ8_0Tiles = avx2::make_tiles<Q8_0Tile, 1, 2, 8>();

}  // namespace

void q8_0_prefill(const avx2::MatCtx& c, int64_t r0, int64_t r1) {
  avx2::run_tiles(kQ8_0Tiles, c, r0, r1, c.acts->n_tok);
}

}  // namespace lfmd::kernels::avx512
