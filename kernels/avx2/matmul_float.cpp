// AVX2 matmul for float weights (F32, F16, BF16) against f32 activations: 8-wide FMA dots.
// (ggml rounds activations to F16/BF16 for such weights; we keep f32: more accurate, same speed.)
#include "kernels/avx2/common.h"
#include "kernels/avx2/lane_helpers.h"  // static: compiled under this file's flags

namespace lfmd::kernels::avx2 {

namespace {

// 8 weights starting at element i of a row, as f32.
template <DType WT>
inline __m256 load8(const uint8_t* row, int64_t i) {
  if constexpr (WT == DType::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  } else if constexpr (WT == DType::F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
  } else {  // BF16: the 16 bits are the top half of an f32
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
  }
}

template <DType WT>
inline float load1(const uint8_t* row, int64_t i) {
  if constexpr (WT == DType::F32) return ref::load_f32(row + 4 * i);
  else if constexpr (WT == DType::F16) return f16_to_f32(row + 2 * i);
  else return bf16_to_fp32(ref::load_u16(row + 2 * i));
}

template <DType WT>
struct FloatTile {
  template <int NR, int NT>
  struct K {
    static void run(const MatCtx& c, int64_t r, int64_t t0) {
      const PreparedActs& a = *c.acts;
      const int64_t n = a.n_in;
      const uint8_t* rows[NR];
      const float* xs[NT];
      for (int i = 0; i < NR; ++i) rows[i] = c.w + (r + i) * c.rb;
      for (int t = 0; t < NT; ++t) xs[t] = a.x + (t0 + t) * a.ldx;
      __m256 acc[NR][NT];
      for (int i = 0; i < NR; ++i)
        for (int t = 0; t < NT; ++t) acc[i][t] = _mm256_setzero_ps();
      const x86::RowsAhead ahead(c.w, c.rb, r, NR, WT == DType::F32 ? 32u : 16u, NR > 1 && t0 == 0);
      int64_t k = 0;
      for (; k + 8 <= n; k += 8) {
        ahead.at(k / 8);
        __m256 wv[NR];
        for (int i = 0; i < NR; ++i) wv[i] = load8<WT>(rows[i], k);
        for (int t = 0; t < NT; ++t) {
          const __m256 xv = _mm256_loadu_ps(xs[t] + k);
          for (int i = 0; i < NR; ++i) acc[i][t] = _mm256_fmadd_ps(wv[i], xv, acc[i][t]);
        }
      }
      for (int i = 0; i < NR; ++i) {
        for (int t = 0; t < NT; ++t) {
          float s = hsum(acc[i][t]);
          for (int64_t j = k; j < n; ++j) s += load1<WT>(rows[i], j) * xs[t][j];
          c.y[(t0 + t) * c.ldy + r + i] = s;
        }
      }
    }
  };
};

// Decode: 4 rows (one row's single FMA chain is latency-bound: 6 GMAC/s, 12 GB/s of F16 from
// DRAM on one Zen 5 core; the rows' streams are prefetched, RowsAhead). Prefill: 4 rows x 2 tokens.
// Each row's sum is one chain in the same order in every tile, so the tile never changes its bits.
constexpr TileSet kF32Tiles = make_tiles<FloatTile<DType::F32>::K, 4, 4, 2>();
constexpr TileSet kF16Tiles = make_tiles<FloatTile<DType::F16>::K, 4, 4, 2>();
constexpr TileSet kBF16Tiles = make_tiles<FloatTile<DType::BF16>::K, 4, 4, 2>();

}  // namespace

void matmul_float(DType wt, const MatCtx& c, int64_t r0, int64_t r1) {
  const TileSet& tiles = wt == DType::F32 ? kF32Tiles : wt == DType::F16 ? kF16Tiles : kBF16Tiles;
  run_tiles(tiles, c, r0, r1, c.acts->n_tok);
}

}  // namespace lfmd::kernels::avx2
