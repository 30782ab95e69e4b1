// AVX-VNNI prefill matmul for file-layout Q8_0 weights against the AVX2 table's prepared Q8_0
// activations: the AVX2 kernel (kernels/avx2/matmul_q8_0.cpp) with vpmaddubsw + vpmaddwd of
// |w| and sign(a, w) fused into one vpdpbusd (the same 8 int32 lanes of four products; no int16
// saturation in either: |w| <= 128, |a| <= 127). Same float operations: results are
// bit-identical to the AVX2 table. Decode stays on the AVX2 kernel.
// Compiled with AVX-VNNI flags: only intrinsics, local helpers and the static ones of
// lane_helpers.h (no shared inline code).
#include <immintrin.h>

#include "kernels/avx2/common.h"        // declarations (MatCtx, TileSet, run_tiles); no inline use
#include "kernels/avx2/lane_helpers.h"  // static: compiled under this file's flags

namespace lfmd::kernels::avxvnni {

namespace {

using x86::f16;
using x86::hsum8;
using x86::ld256;

// 1 row x NT tokens from t0, as the AVX2 Q8_0 tile.
template <int NR, int NT>
struct Q8_0Tile {
  static void run(const avx2::MatCtx& c, int64_t r, int64_t t0) {
    static_assert(NR == 1);
    const avx2::Q8_0ActsLayout l = avx2::q8_0_acts_layout(c.acts->n_in);
    const uint8_t* tok[NT];
    for (int t = 0; t < NT; ++t) tok[t] = static_cast<const uint8_t*>(c.q) + (t0 + t) * l.stride;
    const uint8_t* row = c.w + r * c.rb;
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < l.nb; ++b) {
      const uint8_t* blk = row + 34 * b;
      const __m256 wd = _mm256_set1_ps(f16(blk));
      const __m256i wq = ld256(blk + 2);
      const __m256i wa = _mm256_sign_epi8(wq, wq);  // |w|; -128 stays 0x80 = 128 unsigned
      for (int t = 0; t < NT; ++t) {
        const __m256i as = _mm256_sign_epi8(ld256(tok[t] + 32 * b), wq);
        const __m256i s = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), wa, as);
        const __m256 da = _mm256_set1_ps(reinterpret_cast<const float*>(tok[t] + l.d_off)[b]);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(wd, da), acc[t]);
      }
    }
    for (int t = 0; t < NT; ++t) c.y[(t0 + t) * c.ldy + r] = hsum8(acc[t]);
  }
};

// As the AVX2 table's prefill: 1 row x 8 tokens.
constexpr avx2::TileSet kQ8_0Tiles = avx2::make_tiles<Q8_0Tile, 1, 1, 8>();

}  // namespace

void q8_0_prefill(const avx2::MatCtx& c, int64_t r0, int64_t r1) {
  avx2::run_tiles(kQ8_0Tiles, c, r0, r1, c.acts->n_tok);
}

}  // namespace lfmd::kernels::avxvnni
