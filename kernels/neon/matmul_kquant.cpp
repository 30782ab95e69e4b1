// NEON matmul for Q4_K, Q5_K, Q6_K weights against Q8_K activations (256-value super-blocks with
// an f32 scale and 16-value sums), quantized once per call. Per super-block: 8 int32 lanes of
// exact sums (vdotq_s32, sub-block scales applied in integer), then one scale FMA per lane.
#include <cmath>

#include "kernels/neon/common.h"

namespace lfmd::kernels::neon {

namespace {

using ref::BlockQ8_K;

inline size_t tok_stride(int64_t n_in) {
  return round_up(static_cast<size_t>(n_in / ref::QK_K) * sizeof(BlockQ8_K), kAlign);
}

void quantize_tokens(const PreparedActs& acts, uint8_t* base) {
  const int64_t nb = acts.n_in / ref::QK_K;
  const size_t stride = tok_stride(acts.n_in);
  for (int64_t t = 0; t < acts.n_tok; ++t) {
    auto* y = reinterpret_cast<BlockQ8_K*>(base + t * stride);
    const float* x = acts.x + t * acts.ldx;
    for (int64_t b = 0; b < nb; ++b, x += ref::QK_K) {
      float32x4_t m = vdupq_n_f32(0.0f);
      for (int k = 0; k < ref::QK_K; k += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + k)));
      const float amax = vmaxvq_f32(m);
      BlockQ8_K& blk = y[b];
      if (amax == 0.0f) {
        std::memset(&blk, 0, sizeof(BlockQ8_K));
        continue;
      }
      float vmax = 0.0f;  // signed value of the first element of largest magnitude
      for (int k = 0; k < ref::QK_K; ++k) {
        if (std::fabs(x[k]) == amax) {
          vmax = x[k];
          break;
        }
      }
      const float iscale = -127.0f / vmax;
      const float32x4_t is = vdupq_n_f32(iscale);
      for (int k = 0; k < ref::QK_K; k += 16) {
        // Round to nearest even; the saturating narrowing is the reference's min(127, v).
        const int32x4_t i0 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + k), is));
        const int32x4_t i1 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + k + 4), is));
        const int32x4_t i2 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + k + 8), is));
        const int32x4_t i3 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + k + 12), is));
        const int8x16_t q = vcombine_s8(vqmovn_s16(vcombine_s16(vqmovn_s32(i0), vqmovn_s32(i1))),
                                        vqmovn_s16(vcombine_s16(vqmovn_s32(i2), vqmovn_s32(i3))));
        vst1q_s8(blk.qs + k, q);
        blk.bsums[k / 16] = static_cast<int16_t>(vaddlvq_s8(q));
      }
      blk.d = 1.0f / iscale;
    }
  }
}

inline const BlockQ8_K* token_blocks(const MatCtx& c, int64_t t) {
  return reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(c.q) +
                                            t * tok_stride(c.acts->n_in));
}

// Q4_K/Q5_K packed 6-bit scales -> sc[0..7], m[0..7] (same rule as ref::scale_min_k4).
inline void unpack_scales_k4(const uint8_t* packed, uint8_t sc[8], uint8_t m[8]) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t lo6 = 0x3f3f3f3f, lo4 = 0x0f0f0f0f, lo2 = 0x03030303;
  const uint32_t s03 = u[0] & lo6, m03 = u[1] & lo6;
  const uint32_t s47 = (u[2] & lo4) | (((u[0] >> 6) & lo2) << 4);
  const uint32_t m47 = ((u[2] >> 4) & lo4) | (((u[1] >> 6) & lo2) << 4);
  std::memcpy(sc, &s03, 4);
  std::memcpy(sc + 4, &s47, 4);
  std::memcpy(m, &m03, 4);
  std::memcpy(m + 4, &m47, 4);
}

// sc * (q . a) over one sub-block of 32, added to lanes 0-3 (elements 0-15) and 4-7 (16-31).
inline void dot32(int32x4_t& lo, int32x4_t& hi, int8x16_t q0, int8x16_t q1, const int8_t* a,
                  int32_t sc) {
  lo = vmlaq_n_s32(lo, dot(q0, vld1q_s8(a)), sc);
  hi = vmlaq_n_s32(hi, dot(q1, vld1q_s8(a + 16)), sc);
}

// Q4_K (HIGH5 = false) and Q5_K (HIGH5 = true): unsigned codes q in 0..15 / 0..31,
// value = d*sc_j*q - dmin*m_j. Per row and token: d*da*sum_j sc_j (q.a)_j - dmin*da*sum_j m_j
// sum(a)_j. The min terms accumulate as the AVX2 kernels (and ggml's) do: 4 lanes for Q4_K, a
// scalar for Q5_K.
template <bool HIGH5>
struct KTile {
  template <int NT>
  struct K {
    static void run(const MatCtx& c, int64_t r, int64_t t0) {
      const int64_t nb = c.acts->n_in / ref::QK_K;
      constexpr size_t kBytes = HIGH5 ? sizeof(ref::BlockQ5_K) : sizeof(ref::BlockQ4_K);
      const BlockQ8_K* ab[NT];
      for (int t = 0; t < NT; ++t) ab[t] = token_blocks(c, t0 + t);
      const uint8x16_t m4 = vdupq_n_u8(0x0F), bit4 = vdupq_n_u8(0x10);
      F8 acc[NT];
      float32x4_t accm4[NT];
      float accm[NT];
      for (int t = 0; t < NT; ++t) acc[t] = zero8(), accm4[t] = vdupq_n_f32(0.0f), accm[t] = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = c.w + r * c.rb + b * kBytes;
        // Both layouts start with d, dmin, scales[12]; Q5_K then has qh[32] before qs[128].
        const float d = f16_to_f32(blk), dmin = f16_to_f32(blk + 2);
        const uint8_t* qs = blk + (HIGH5 ? 48 : 16);
        uint8_t sc[8], mn[8];
        unpack_scales_k4(blk + 4, sc, mn);
        const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
        uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
        if constexpr (HIGH5) h0 = load_u8(blk + 16), h1 = load_u8(blk + 32);
        int32x4_t slo[NT], shi[NT];
        for (int t = 0; t < NT; ++t) slo[t] = shi[t] = vdupq_n_s32(0);
        for (int g = 0; g < 4; ++g) {
          const uint8x16_t raw0 = load_u8(qs + 32 * g), raw1 = load_u8(qs + 32 * g + 16);
          uint8x16_t lo0 = vandq_u8(raw0, m4), lo1 = vandq_u8(raw1, m4);
          uint8x16_t hi0 = vshrq_n_u8(raw0, 4), hi1 = vshrq_n_u8(raw1, 4);
          if constexpr (HIGH5) {
            // 5th bit of sub-block j is bit j of qh[l]: test it, turn it into 16.
            const uint8x16_t ml = vdupq_n_u8(static_cast<uint8_t>(1u << (2 * g)));
            const uint8x16_t mh = vdupq_n_u8(static_cast<uint8_t>(2u << (2 * g)));
            lo0 = vorrq_u8(lo0, vandq_u8(vtstq_u8(h0, ml), bit4));
            lo1 = vorrq_u8(lo1, vandq_u8(vtstq_u8(h1, ml), bit4));
            hi0 = vorrq_u8(hi0, vandq_u8(vtstq_u8(h0, mh), bit4));
            hi1 = vorrq_u8(hi1, vandq_u8(vtstq_u8(h1, mh), bit4));
          }
          const int8x16_t l0 = vreinterpretq_s8_u8(lo0), l1 = vreinterpretq_s8_u8(lo1);
          const int8x16_t u0 = vreinterpretq_s8_u8(hi0), u1 = vreinterpretq_s8_u8(hi1);
          for (int t = 0; t < NT; ++t) {
            const int8_t* a = ab[t][b].qs + 64 * g;
            dot32(slo[t], shi[t], l0, l1, a, sc[2 * g]);
            dot32(slo[t], shi[t], u0, u1, a + 32, sc[2 * g + 1]);
          }
        }
        for (int t = 0; t < NT; ++t) {
          const BlockQ8_K& a = ab[t][b];
          const float da = a.d;
          // Sub-block sums of the activations (bsums pairwise), times the mins: lane k holds
          // m_2k*S_2k + m_2k+1*S_2k+1 (vpmaddwd's pairing).
          const int16x8_t bs0 = vld1q_s16(a.bsums), bs1 = vld1q_s16(a.bsums + 8);
          const int16x8_t s32 = vpaddq_s16(bs0, bs1);
          const int32x4_t p0 = vmull_s16(vget_low_s16(mins), vget_low_s16(s32));
          const int32x4_t p1 = vmull_s16(vget_high_s16(mins), vget_high_s16(s32));
          const int32x4_t prod = vpaddq_s32(p0, p1);
          if constexpr (HIGH5) {
            accm[t] = std::fma(-(dmin * da), static_cast<float>(vaddvq_s32(prod)), accm[t]);
          } else {
            accm4[t] = vfmaq_f32(accm4[t], vdupq_n_f32(-(dmin * da)), vcvtq_f32_s32(prod));
          }
          acc[t] = fma8(acc[t], cvt8(slo[t], shi[t]), vdupq_n_f32(d * da));
        }
      }
      for (int t = 0; t < NT; ++t)
        c.y[(t0 + t) * c.ldy + r] = hsum8(acc[t]) + (HIGH5 ? accm[t] : hsum4_avx(accm4[t]));
    }
  };
};

// Q6_K: unsigned 6-bit codes u (value u - 32), 16 sub-blocks of 16 with signed 8-bit scales.
// isum = sum_j sc_j (u.a)_j - 32 sum_j sc_j bsum_j, distributed over the 8 lanes as AVX2 does.
template <int NT>
struct Q6KTile {
  static void run(const MatCtx& c, int64_t r, int64_t t0) {
    const int64_t nb = c.acts->n_in / ref::QK_K;
    const BlockQ8_K* ab[NT];
    for (int t = 0; t < NT; ++t) ab[t] = token_blocks(c, t0 + t);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m03 = vdupq_n_u8(0x03), m0c = vdupq_n_u8(0x0C);
    const uint8x16_t m30 = vdupq_n_u8(0x30), mc0 = vdupq_n_u8(0xC0);
    F8 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = zero8();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* base = c.w + r * c.rb + b * sizeof(ref::BlockQ6_K);
      int8_t sc[16];
      std::memcpy(sc, base + 192, 16);
      const int16x8_t sc16a = vmovl_s8(vld1_s8(sc)), sc16b = vmovl_s8(vld1_s8(sc + 8));
      const float d = f16_to_f32(base + 208);
      int32x4_t slo[NT], shi[NT];
      for (int t = 0; t < NT; ++t) {
        // lane k: -32 * (sc_2k bsum_2k + sc_2k+1 bsum_2k+1)
        const int16x8_t bs0 = vld1q_s16(ab[t][b].bsums), bs1 = vld1q_s16(ab[t][b].bsums + 8);
        const int32x4_t p0 = vpaddq_s32(vmull_s16(vget_low_s16(sc16a), vget_low_s16(bs0)),
                                        vmull_s16(vget_high_s16(sc16a), vget_high_s16(bs0)));
        const int32x4_t p1 = vpaddq_s32(vmull_s16(vget_low_s16(sc16b), vget_low_s16(bs1)),
                                        vmull_s16(vget_high_s16(sc16b), vget_high_s16(bs1)));
        slo[t] = vnegq_s32(vshlq_n_s32(p0, 5));
        shi[t] = vnegq_s32(vshlq_n_s32(p1, 5));
      }
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = base + 64 * h;
        const uint8_t* qhp = base + 128 + 32 * h;
        for (int half = 0; half < 2; ++half) {  // bytes 0-15 and 16-31 of each 32-byte chunk
          const uint8x16_t ql0 = load_u8(ql + 16 * half), ql1 = load_u8(ql + 32 + 16 * half);
          const uint8x16_t qh = load_u8(qhp + 16 * half);
          int8x16_t q[4];
          q[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ql0, m4), vshlq_n_u8(vandq_u8(qh, m03), 4)));
          q[1] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ql1, m4), vshlq_n_u8(vandq_u8(qh, m0c), 2)));
          q[2] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ql0, 4), vandq_u8(qh, m30)));
          q[3] =
              vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ql1, 4), vshrq_n_u8(vandq_u8(qh, mc0), 2)));
          for (int k = 0; k < 4; ++k) {
            // chunk k covers sub-blocks 8h+2k (its bytes 0-15, lanes 0-3) and 8h+2k+1 (lanes 4-7)
            const int32_t s = sc[8 * h + 2 * k + half];
            for (int t = 0; t < NT; ++t) {
              const int32x4_t p = dot(q[k], vld1q_s8(ab[t][b].qs + 128 * h + 32 * k + 16 * half));
              if (half == 0)
                slo[t] = vmlaq_n_s32(slo[t], p, s);
              else
                shi[t] = vmlaq_n_s32(shi[t], p, s);
            }
          }
        }
      }
      for (int t = 0; t < NT; ++t)
        acc[t] = fma8(acc[t], cvt8(slo[t], shi[t]), vdupq_n_f32(d * ab[t][b].d));
    }
    for (int t = 0; t < NT; ++t) c.y[(t0 + t) * c.ldy + r] = hsum8(acc[t]);
  }
};

// Decode: one row at a time. Prefill: 1 row x 4 tokens, the unpacked weights reused per token.
constexpr Tiles kQ4KTiles = make_tiles<KTile<false>::K, 4>();
constexpr Tiles kQ5KTiles = make_tiles<KTile<true>::K, 4>();
constexpr Tiles kQ6KTiles = make_tiles<Q6KTile, 4>();

}  // namespace

size_t q8_K_tok_stride(int64_t n_in) {
  return tok_stride(n_in);
}

size_t q8_K_acts_bytes(int64_t n_in, int64_t n_tok) {
  return kAlign + tok_stride(n_in) * static_cast<size_t>(n_tok);
}

void q8_K_prepare(PreparedActs& acts, void* scratch) {
  uint8_t* base = align_up(scratch);
  quantize_tokens(acts, base);
  acts.q = base;
}

void matmul_kquant(DType wt, const MatCtx& c, int64_t r0, int64_t r1) {
  const Tiles& tiles = wt == DType::Q4_K ? kQ4KTiles : wt == DType::Q5_K ? kQ5KTiles : kQ6KTiles;
  run_tiles(tiles, c, r0, r1, c.acts->n_tok);
}

}  // namespace lfmd::kernels::neon
