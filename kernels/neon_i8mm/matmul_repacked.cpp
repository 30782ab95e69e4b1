// NEON i8mm matmul on repacked Q4_0 and Q4_K matrices (layout in kernels.h, kRepackRows = 8),
// compiled with +i8mm for this file only. smmla (vmmlaq_s32) multiplies 2 rows x 8 int8 by 8 int8
// x 2 tokens into 2x2 int32; four of them give the exact int32 dot of a 32-column block (Q4_0) or
// sub-block (Q4_K) for 2 rows x 2 tokens. Floats per row and token, one lane per (row, token) and
// no horizontal sum, as the x86 repacked kernels (kernels/avx2/matmul_repacked.cpp) do them:
// Q4_0 acc = fma(float(isum_b), dw * da, acc) per block; Q4_K per super-block of exact integers
// isum = sum_j sc_j (q.a)_j and msum = sum_j m_j sum(a)_j: acc = fma(float(isum), d * da, acc),
// accm = fma(float(msum), dmin * da, accm), result acc - accm: bit-identical results.
#include <algorithm>

#include "kernels/neon/common.h"

namespace lfmd::kernels::neon {

namespace {

struct Tok {
  const int8_t* qs;         // Q4_0: [nb][32] int8 activations of one token
  const float* d;           // Q4_0: [nb] f32 block scales
  const ref::BlockQ8_K* k;  // Q4_K: [nb] Q8_K blocks of the token
};

constexpr int kNT = 4;          // tokens per tile (two smmla token pairs)
constexpr size_t kGroupBlock = 144;  // bytes of one block of 8 rows: d[8] fp16 + 4 units x 32

// One group of 8 rows x NP token pairs (tok[2 * NP]; an odd count repeats the last token).
// Out: lanes of acc[p][j] = (row 2p, tok 2j), (2p, 2j+1), (2p+1, 2j), (2p+1, 2j+1).
template <int NP>
void q4_0_group(const uint8_t* g, int64_t nb, const Tok* tok, float32x4_t (*acc)[NP]) {
  const uint8x16_t m4 = vdupq_n_u8(0x0F);
  const int8x16_t eight = vdupq_n_s8(8);
  for (int p = 0; p < 4; ++p)
    for (int j = 0; j < NP; ++j) acc[p][j] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b, g += kGroupBlock) {
    const float16x8_t h = vld1q_f16(reinterpret_cast<const __fp16*>(g));
    const float32x4_t dlo = vcvt_f32_f16(vget_low_f16(h)), dhi = vcvt_high_f32_f16(h);
    // [dw_2p, dw_2p, dw_2p+1, dw_2p+1] per row pair p, matching the smmla lane order.
    const float32x4_t dw[4] = {vzip1q_f32(dlo, dlo), vzip2q_f32(dlo, dlo), vzip1q_f32(dhi, dhi),
                               vzip2q_f32(dhi, dhi)};
    // w[p][k]: rows 2p, 2p+1, columns 8k..8k+7 (low nibbles of units 0,1 / 2,3, then high).
    int8x16_t w[4][4];
    for (int v = 0; v < 2; ++v) {  // unit pair (2v, 2v+1): quant bytes 8v..8v+7 of every row
      for (int half = 0; half < 2; ++half) {  // rows 0-3 / 4-7
        const uint32x4_t u0 = vreinterpretq_u32_u8(load_u8(g + 16 + 64 * v + 16 * half));
        const uint32x4_t u1 = vreinterpretq_u32_u8(load_u8(g + 48 + 64 * v + 16 * half));
        const uint8x16_t pr[2] = {vreinterpretq_u8_u32(vzip1q_u32(u0, u1)),
                                  vreinterpretq_u8_u32(vzip2q_u32(u0, u1))};
        for (int i = 0; i < 2; ++i) {
          const int p = 2 * half + i;
          w[p][v] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(pr[i], m4)), eight);
          w[p][v + 2] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(pr[i], 4)), eight);
        }
      }
    }
    for (int j = 0; j < NP; ++j) {
      const int8_t* a0 = tok[2 * j].qs + 32 * b;
      const int8_t* a1 = tok[2 * j + 1].qs + 32 * b;
      int8x16_t a[4];
      for (int k = 0; k < 4; ++k) a[k] = vcombine_s8(vld1_s8(a0 + 8 * k), vld1_s8(a1 + 8 * k));
      const float32x2_t da2 = {tok[2 * j].d[b], tok[2 * j + 1].d[b]};
      const float32x4_t da = vcombine_f32(da2, da2);
      for (int p = 0; p < 4; ++p) {
        int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), w[p][0], a[0]);
        for (int k = 1; k < 4; ++k) s = vmmlaq_s32(s, w[p][k], a[k]);
        acc[p][j] = vfmaq_f32(acc[p][j], vcvtq_f32_s32(s), vmulq_f32(dw[p], da));
      }
    }
  }
}

// [x_2p, x_2p, x_2p+1, x_2p+1] for row pairs p = 0..3 of the 8 fp16 values at p16 (smmla lanes).
inline void pair_lanes_f16(const uint8_t* p16, float32x4_t* out) {
  const float16x8_t h = vld1q_f16(reinterpret_cast<const __fp16*>(p16));
  const float32x4_t lo = vcvt_f32_f16(vget_low_f16(h)), hi = vcvt_high_f32_f16(h);
  out[0] = vzip1q_f32(lo, lo);
  out[1] = vzip2q_f32(lo, lo);
  out[2] = vzip1q_f32(hi, hi);
  out[3] = vzip2q_f32(hi, hi);
}
// The same lane order for 8 per-row bytes, as int32.
inline void pair_lanes_u8(uint8x8_t v, int32x4_t* out) {
  const uint16x8_t w = vmovl_u8(v);
  const uint16x8_t lo = vzip1q_u16(w, w), hi = vzip2q_u16(w, w);
  out[0] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(lo)));
  out[1] = vreinterpretq_s32_u32(vmovl_high_u16(lo));
  out[2] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(hi)));
  out[3] = vreinterpretq_s32_u32(vmovl_high_u16(hi));
}

// The 6-bit scales and mins of 8 rows, sc[j] / mn[j] = sub-block j's per row, from the packed
// bytes [k][row] (k = 0..11) at p (ref::scale_min_k4 on every row).
inline void unpack_scales_8rows(const uint8_t* p, uint8x8_t* sc, uint8x8_t* mn) {
  const uint8x8_t m6 = vdup_n_u8(0x3F), m4 = vdup_n_u8(0x0F), m30 = vdup_n_u8(0x30);
  for (int j = 0; j < 4; ++j) {
    const uint8x8_t a = vld1_u8(p + 8 * j), b = vld1_u8(p + 32 + 8 * j),
                    c = vld1_u8(p + 64 + 8 * j);
    sc[j] = vand_u8(a, m6);
    mn[j] = vand_u8(b, m6);
    sc[j + 4] = vorr_u8(vand_u8(c, m4), vand_u8(vshr_n_u8(a, 2), m30));
    mn[j + 4] = vorr_u8(vshr_n_u8(c, 4), vand_u8(vshr_n_u8(b, 2), m30));
  }
}

// Sub-block sums of a token pair's activations, [sum_j(t0), sum_j(t1)] twice per j (int32).
inline void pair_bsums(const ref::BlockQ8_K& a0, const ref::BlockQ8_K& a1, int32x4_t* out) {
  const int16x8_t s0 = vpaddq_s16(vld1q_s16(a0.bsums), vld1q_s16(a0.bsums + 8));  // 8 x 32 values
  const int16x8_t s1 = vpaddq_s16(vld1q_s16(a1.bsums), vld1q_s16(a1.bsums + 8));
  const int16x8_t z[2] = {vzip1q_s16(s0, s1), vzip2q_s16(s0, s1)};
  for (int h = 0; h < 2; ++h) {
    const int32x4_t lo = vmovl_s16(vget_low_s16(z[h])), hi = vmovl_high_s16(z[h]);
    out[4 * h] = vcombine_s32(vget_low_s32(lo), vget_low_s32(lo));
    out[4 * h + 1] = vcombine_s32(vget_high_s32(lo), vget_high_s32(lo));
    out[4 * h + 2] = vcombine_s32(vget_low_s32(hi), vget_low_s32(hi));
    out[4 * h + 3] = vcombine_s32(vget_high_s32(hi), vget_high_s32(hi));
  }
}

constexpr size_t kGroupSuper = 8 * sizeof(ref::BlockQ4_K);  // one super-block of 8 rows: 1152 bytes

// Q4_K: one group of 8 rows x NP token pairs, per super-block the exact isum and msum of every
// (row, token) lane, then the x86 repacked kernel's two FMAs. Lanes of acc as in q4_0_group.
template <int NP>
void q4_K_group(const uint8_t* g, int64_t nb, const Tok* tok, float32x4_t (*acc)[NP]) {
  const uint8x16_t m4 = vdupq_n_u8(0x0F);
  float32x4_t accm[4][NP];
  for (int p = 0; p < 4; ++p)
    for (int j = 0; j < NP; ++j) acc[p][j] = accm[p][j] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b, g += kGroupSuper) {
    float32x4_t dw[4], dmw[4];
    pair_lanes_f16(g, dw);
    pair_lanes_f16(g + 16, dmw);
    uint8x8_t sc[8], mn[8];
    unpack_scales_8rows(g + 32, sc, mn);
    int32x4_t isum[4][NP], msum[4][NP];
    for (int p = 0; p < 4; ++p)
      for (int j = 0; j < NP; ++j) isum[p][j] = msum[p][j] = vdupq_n_s32(0);
    for (int k = 0; k < 4; ++k) {  // sub-blocks 2k (low nibbles) and 2k+1 (high): units 8k..8k+7
      int32x4_t sl[4], sh[4];      // their scales in smmla lanes, per row pair
      pair_lanes_u8(sc[2 * k], sl);
      pair_lanes_u8(sc[2 * k + 1], sh);
      for (int half = 0; half < 2; ++half) {  // rows 0-3 / 4-7: row pairs 2 * half, 2 * half + 1
        int8x16_t wl[2][4], wh[2][4];         // [pair][8-column chunk c]
        for (int c = 0; c < 4; ++c) {
          const uint8_t* u = g + 128 + 32 * (8 * k + 2 * c) + 16 * half;
          const uint32x4_t u0 = vreinterpretq_u32_u8(load_u8(u)),
                           u1 = vreinterpretq_u32_u8(load_u8(u + 32));
          const uint8x16_t pr[2] = {vreinterpretq_u8_u32(vzip1q_u32(u0, u1)),
                                    vreinterpretq_u8_u32(vzip2q_u32(u0, u1))};
          for (int i = 0; i < 2; ++i) {
            wl[i][c] = vreinterpretq_s8_u8(vandq_u8(pr[i], m4));
            wh[i][c] = vreinterpretq_s8_u8(vshrq_n_u8(pr[i], 4));
          }
        }
        for (int j = 0; j < NP; ++j) {
          const int8_t* a0 = tok[2 * j].k[b].qs + 64 * k;
          const int8_t* a1 = tok[2 * j + 1].k[b].qs + 64 * k;
          for (int s = 0; s < 2; ++s) {  // sub-block 2k + s: columns 32 s.. of the 64
            int8x16_t a[4];
            for (int c = 0; c < 4; ++c)
              a[c] = vcombine_s8(vld1_s8(a0 + 32 * s + 8 * c), vld1_s8(a1 + 32 * s + 8 * c));
            for (int i = 0; i < 2; ++i) {
              const int8x16_t* w = s ? wh[i] : wl[i];
              int32x4_t d = vmmlaq_s32(vdupq_n_s32(0), w[0], a[0]);
              for (int c = 1; c < 4; ++c) d = vmmlaq_s32(d, w[c], a[c]);
              const int p = 2 * half + i;
              isum[p][j] = vmlaq_s32(isum[p][j], d, s ? sh[p] : sl[p]);
            }
          }
        }
      }
    }
    for (int j = 0; j < NP; ++j) {
      int32x4_t bs[8];
      pair_bsums(tok[2 * j].k[b], tok[2 * j + 1].k[b], bs);
      for (int s = 0; s < 8; ++s) {
        int32x4_t ml[4];
        pair_lanes_u8(mn[s], ml);
        for (int p = 0; p < 4; ++p) msum[p][j] = vmlaq_s32(msum[p][j], ml[p], bs[s]);
      }
      const float32x2_t da2 = {tok[2 * j].k[b].d, tok[2 * j + 1].k[b].d};
      const float32x4_t da = vcombine_f32(da2, da2);
      for (int p = 0; p < 4; ++p) {
        acc[p][j] = vfmaq_f32(acc[p][j], vcvtq_f32_s32(isum[p][j]), vmulq_f32(dw[p], da));
        accm[p][j] = vfmaq_f32(accm[p][j], vcvtq_f32_s32(msum[p][j]), vmulq_f32(dmw[p], da));
      }
    }
  }
  for (int p = 0; p < 4; ++p)
    for (int j = 0; j < NP; ++j) acc[p][j] = vsubq_f32(acc[p][j], accm[p][j]);
}

// Tokens [0, nt) of one group into y (+ t * ldy + row), nt <= kNT.
template <int NP>
void run_group(bool k_quant, const uint8_t* g, int64_t nb, const Tok* tok, int nt, float* y,
               int64_t ldy) {
  float32x4_t acc[4][NP];
  if (k_quant)
    q4_K_group<NP>(g, nb, tok, acc);
  else
    q4_0_group<NP>(g, nb, tok, acc);
  for (int j = 0; j < NP; ++j) {
    const int t = 2 * j;
    // uzp1: rows 4q..4q+3 of token t; uzp2: of token t + 1.
    for (int q = 0; q < 2; ++q) {
      vst1q_f32(y + t * ldy + 4 * q, vuzp1q_f32(acc[2 * q][j], acc[2 * q + 1][j]));
      if (t + 1 < nt) vst1q_f32(y + (t + 1) * ldy + 4 * q, vuzp2q_f32(acc[2 * q][j], acc[2 * q + 1][j]));
    }
  }
}

void group_tile(bool k_quant, const uint8_t* g, int64_t nb, Tok* tok, int nt, float* y,
                int64_t ldy) {
  if (nt % 2) tok[nt] = tok[nt - 1];  // pad the last pair
  if (nt <= 2)
    run_group<1>(k_quant, g, nb, tok, nt, y, ldy);
  else
    run_group<2>(k_quant, g, nb, tok, nt, y, ldy);
}

}  // namespace

void matmul_repacked_i8mm(DType wt, const MatCtx& c, int64_t n_rows, int64_t r0, int64_t r1) {
  const int64_t full = n_rows / kRepackRows * kRepackRows;
  const int64_t g_lim = std::min(r1, full);                 // rows computed from groups
  const int64_t g_end = g_lim / kRepackRows * kRepackRows;  // whole groups in range
  const bool k_quant = wt == DType::Q4_K;
  const int64_t n_tok = c.acts->n_tok, nb = c.acts->n_in / (k_quant ? ref::QK_K : ref::QK);
  const size_t gb = c.rb * kRepackRows;
  const size_t stride = k_quant ? q8_K_tok_stride(c.acts->n_in) : q8_0_tok_stride(c.acts->n_in);
  const size_t d_off = static_cast<size_t>(nb) * 32;  // Q4_0: the scales after the int8 values
  const auto* base = static_cast<const uint8_t*>(c.q);
  auto tok_of = [&](int64_t t) {
    const uint8_t* p = base + t * stride;
    if (k_quant) return Tok{nullptr, nullptr, reinterpret_cast<const ref::BlockQ8_K*>(p)};
    return Tok{reinterpret_cast<const int8_t*>(p), reinterpret_cast<const float*>(p + d_off),
               nullptr};
  };
  if (r0 < g_lim) {
    // Groups in chunks of ~128 KiB of weights, so they stay in L2 while every token tile reads them.
    const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>((128u << 10) / gb)) * kRepackRows;
    for (int64_t rc = r0; rc < g_lim; rc += chunk) {
      const int64_t re = std::min(g_lim, rc + chunk);
      for (int64_t t0 = 0; t0 < n_tok; t0 += kNT) {
        const int nt = static_cast<int>(std::min<int64_t>(kNT, n_tok - t0));
        Tok tp[kNT];
        for (int t = 0; t < nt; ++t) tp[t] = tok_of(t0 + t);
        for (int64_t r = rc; r < re; r += kRepackRows) {
          const uint8_t* g = c.w + (r / kRepackRows) * gb;
          if (r < g_end) {
            group_tile(k_quant, g, nb, tp, nt, c.y + t0 * c.ldy + r, c.ldy);
            continue;
          }
          // A range ending inside a group: compute the whole group aside, keep the rows asked for.
          float tmp[kNT * kRepackRows];
          group_tile(k_quant, g, nb, tp, nt, tmp, kRepackRows);
          for (int t = 0; t < nt; ++t)
            for (int64_t i = r; i < g_lim; ++i) c.y[(t0 + t) * c.ldy + i] = tmp[t * kRepackRows + (i - r)];
        }
      }
    }
  }
  // Rows past the last full group keep the original format, at the same offsets (rb per row).
  if (r1 > full) (k_quant ? matmul_kquant : matmul_q8_0)(wt, c, std::max(r0, full), r1);
}

}  // namespace lfmd::kernels::neon
