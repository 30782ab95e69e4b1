// NEON matmul for float weights (F32, F16, BF16) against f32 activations: 8-lane FMA dots
// (two float32x4 per accumulator, the AVX2 kernel's lanes), f32 activations as on x86.
#include <cmath>

#include "kernels/neon/common.h"

namespace lfmd::kernels::neon {

namespace {

// 8 weights starting at element i of a row, as f32 (conversions are exact).
template <DType WT>
inline F8 wload8(const uint8_t* row, int64_t i) {
  if constexpr (WT == DType::F32) {
    return load8(reinterpret_cast<const float*>(row) + i);
  } else if constexpr (WT == DType::F16) {
    const float16x8_t h = vreinterpretq_f16_u8(vld1q_u8(row + 2 * i));
    return {vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h)};
  } else {  // BF16: the 16 bits are the top half of an f32
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(row + 2 * i));
    return {vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)),
            vreinterpretq_f32_u32(vshll_high_n_u16(h, 16))};
  }
}

template <DType WT>
inline float wload1(const uint8_t* row, int64_t i) {
  if constexpr (WT == DType::F32)
    return ref::load_f32(row + 4 * i);
  else if constexpr (WT == DType::F16)
    return f16_to_f32(row + 2 * i);
  else
    return bf16_to_fp32(ref::load_u16(row + 2 * i));
}

template <DType WT>
struct FloatTile {
  template <int NT>
  struct K {
    static void run(const MatCtx& c, int64_t r, int64_t t0) {
      const PreparedActs& a = *c.acts;
      const int64_t n = a.n_in;
      const uint8_t* row = c.w + r * c.rb;
      const float* xs[NT];
      for (int t = 0; t < NT; ++t) xs[t] = a.x + (t0 + t) * a.ldx;
      F8 acc[NT];
      for (int t = 0; t < NT; ++t) acc[t] = zero8();
      int64_t k = 0;
      for (; k + 8 <= n; k += 8) {
        const F8 wv = wload8<WT>(row, k);
        for (int t = 0; t < NT; ++t) acc[t] = fma8(acc[t], wv, load8(xs[t] + k));
      }
      for (int t = 0; t < NT; ++t) {
        float s = hsum8(acc[t]);
        for (int64_t j = k; j < n; ++j) s = std::fma(wload1<WT>(row, j), xs[t][j], s);
        c.y[(t0 + t) * c.ldy + r] = s;
      }
    }
  };
};

// Decode: one row at a time; prefill: 1 row x 4 tokens (8 accumulator registers).
constexpr Tiles kF32Tiles = make_tiles<FloatTile<DType::F32>::K, 4>();
constexpr Tiles kF16Tiles = make_tiles<FloatTile<DType::F16>::K, 4>();
constexpr Tiles kBF16Tiles = make_tiles<FloatTile<DType::BF16>::K, 4>();

}  // namespace

void matmul_float(DType wt, const MatCtx& c, int64_t r0, int64_t r1) {
  const Tiles& tiles = wt == DType::F32 ? kF32Tiles : wt == DType::F16 ? kF16Tiles : kBF16Tiles;
  run_tiles(tiles, c, r0, r1, c.acts->n_tok);
}

}  // namespace lfmd::kernels::neon
