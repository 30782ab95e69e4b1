// NEON matmul for Q8_0 and Q4_0 weights. Activations are quantized once per call (prepare) to
// int8 blocks of 32 with an f32 scale (the fp16-rounded ggml Q8_0 scale, as the scalar
// reference); dots are vdotq_s32 with one scale FMA per block and 8 float lanes per (row, token).
#include "kernels/neon/common.h"

namespace lfmd::kernels::neon {

namespace {

// Per-token layout of the prepared activations (token t starts at base + t * stride):
//   qs [nb][32] int8  quantized values, element order;   d [nb] f32  block scales.
// One preparation serves Q4_0 and Q8_0 weights.
struct Layout {
  int64_t nb;
  size_t d_off, stride;
};
inline Layout layout(int64_t n_in) {
  Layout l;
  l.nb = n_in / ref::QK;
  l.d_off = static_cast<size_t>(l.nb) * 32;
  l.stride = round_up(l.d_off + static_cast<size_t>(l.nb) * 4, kAlign);
  return l;
}

// Round-to-nearest-even conversion and saturating narrowing of 16 floats to int8 (vcvtnq = the
// reference's nearbyint; saturation never triggers since |x * id| <= 127).
inline int8x16_t quantize16(const float* x, float32x4_t id) {
  const int32x4_t i0 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x), id));
  const int32x4_t i1 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 4), id));
  const int32x4_t i2 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 8), id));
  const int32x4_t i3 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 12), id));
  const int16x8_t h0 = vcombine_s16(vqmovn_s32(i0), vqmovn_s32(i1));
  const int16x8_t h1 = vcombine_s16(vqmovn_s32(i2), vqmovn_s32(i3));
  return vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
}

void quantize_tokens(const PreparedActs& acts, uint8_t* base) {
  const Layout l = layout(acts.n_in);
  for (int64_t t = 0; t < acts.n_tok; ++t) {
    const float* x = acts.x + t * acts.ldx;
    uint8_t* tok = base + t * l.stride;
    float* dst_d = reinterpret_cast<float*>(tok + l.d_off);
    for (int64_t b = 0; b < l.nb; ++b, x += 32) {
      float32x4_t m = vabsq_f32(vld1q_f32(x));
      for (int k = 4; k < 32; k += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + k)));
      const float amax = vmaxvq_f32(m);
      dst_d[b] = round_to_f16(amax / 127.0f);
      const float32x4_t id = vdupq_n_f32(amax != 0.0f ? 127.0f / amax : 0.0f);
      vst1q_s8(reinterpret_cast<int8_t*>(tok + 32 * b), quantize16(x, id));
      vst1q_s8(reinterpret_cast<int8_t*>(tok + 32 * b + 16), quantize16(x + 16, id));
    }
  }
}

// Q4_0 (FOUR = true): bytes hold elements j (low nibble) and j + 16 (high), value nibble - 8.
// Q8_0: 32 int8. Per block and token: lanes 0-3 / 4-7 = exact sums of 4 products over elements
// 0-15 / 16-31, times d_w * d_a, fused into 8 float accumulators.
template <bool FOUR>
struct QTile {
  template <int NT>
  struct K {
    static void run(const MatCtx& c, int64_t r, int64_t t0) {
      const Layout l = layout(c.acts->n_in);
      const uint8_t* row = c.w + r * c.rb;
      const uint8_t* tok[NT];
      for (int t = 0; t < NT; ++t) tok[t] = static_cast<const uint8_t*>(c.q) + (t0 + t) * l.stride;
      const uint8x16_t m4 = vdupq_n_u8(0x0F);
      const int8x16_t eight = vdupq_n_s8(8);
      F8 acc[NT];
      for (int t = 0; t < NT; ++t) acc[t] = zero8();
      constexpr size_t kBlock = FOUR ? 18 : 34;
      for (int64_t b = 0; b < l.nb; ++b) {
        const uint8_t* blk = row + kBlock * b;
        const float wd = f16_to_f32(blk);
        int8x16_t w0, w1;
        if constexpr (FOUR) {
          const uint8x16_t q = load_u8(blk + 2);
          w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
          w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
        } else {
          w0 = load_s8(blk + 2);
          w1 = load_s8(blk + 18);
        }
        for (int t = 0; t < NT; ++t) {
          const int8_t* a = reinterpret_cast<const int8_t*>(tok[t] + 32 * b);
          const float da = reinterpret_cast<const float*>(tok[t] + l.d_off)[b];
          const F8 s = cvt8(dot(w0, vld1q_s8(a)), dot(w1, vld1q_s8(a + 16)));
          acc[t] = fma8(acc[t], s, vdupq_n_f32(wd * da));
        }
      }
      for (int t = 0; t < NT; ++t) c.y[(t0 + t) * c.ldy + r] = hsum8(acc[t]);
    }
  };
};

constexpr Tiles kQ4_0Tiles = make_tiles<QTile<true>::K, 8>();
constexpr Tiles kQ8_0Tiles = make_tiles<QTile<false>::K, 8>();

}  // namespace

size_t q8_0_acts_bytes(int64_t n_in, int64_t n_tok) {
  return kAlign + layout(n_in).stride * static_cast<size_t>(n_tok);
}

size_t q8_0_tok_stride(int64_t n_in) { return layout(n_in).stride; }

void q8_0_prepare(PreparedActs& acts, void* scratch) {
  uint8_t* base = align_up(scratch);
  quantize_tokens(acts, base);
  acts.q = base;
}

void matmul_q8_0(DType wt, const MatCtx& c, int64_t r0, int64_t r1) {
  run_tiles(wt == DType::Q4_0 ? kQ4_0Tiles : kQ8_0Tiles, c, r0, r1, c.acts->n_tok);
}

}  // namespace lfmd::kernels::neon
