// NEON i8mm matmul on repacked Q4_0 matrices (layout in kernels.h, kRepackRows = 8), compiled
// with +i8mm for this file only. smmla (vmmlaq_s32) multiplies 2 rows x 8 int8 by 8 int8 x 2
// tokens into 2x2 int32; four of them give the exact int32 dot of a 32-column block for 2 rows x
// 2 tokens. Per block, row and token: acc = fma(float(isum), dw * da, acc), one float lane per
// (row, token) and no horizontal sum: the float order of the x86 repacked Q4_0 kernels
// (kernels/avx2/matmul_repacked.cpp), so results are bit-identical to them.
#include <algorithm>

#include "kernels/neon/common.h"

namespace lfmd::kernels::neon {

namespace {

struct Tok {
  const int8_t* qs;  // [nb][32] int8 activations of one token
  const float* d;    // [nb] f32 block scales
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

// Tokens [0, nt) of one group into y (+ t * ldy + row), nt <= kNT.
template <int NP>
void run_group(const uint8_t* g, int64_t nb, const Tok* tok, int nt, float* y, int64_t ldy) {
  float32x4_t acc[4][NP];
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

void group_tile(const uint8_t* g, int64_t nb, Tok* tok, int nt, float* y, int64_t ldy) {
  if (nt % 2) tok[nt] = tok[nt - 1];  // pad the last pair
  if (nt <= 2)
    run_group<1>(g, nb, tok, nt, y, ldy);
  else
    run_group<2>(g, nb, tok, nt, y, ldy);
}

}  // namespace

void matmul_repacked_i8mm(DType wt, const MatCtx& c, int64_t n_rows, int64_t r0, int64_t r1) {
  const int64_t full = n_rows / kRepackRows * kRepackRows;
  const int64_t g_lim = std::min(r1, full);                 // rows computed from groups
  const int64_t g_end = g_lim / kRepackRows * kRepackRows;  // whole groups in range
  const int64_t n_tok = c.acts->n_tok, nb = c.acts->n_in / ref::QK;
  const size_t gb = c.rb * kRepackRows;
  const size_t stride = q8_0_tok_stride(c.acts->n_in), d_off = static_cast<size_t>(nb) * 32;
  const auto* base = static_cast<const uint8_t*>(c.q);
  auto tok_of = [&](int64_t t) {
    const uint8_t* p = base + t * stride;
    return Tok{reinterpret_cast<const int8_t*>(p), reinterpret_cast<const float*>(p + d_off)};
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
            group_tile(g, nb, tp, nt, c.y + t0 * c.ldy + r, c.ldy);
            continue;
          }
          // A range ending inside a group: compute the whole group aside, keep the rows asked for.
          float tmp[kNT * kRepackRows];
          group_tile(g, nb, tp, nt, tmp, kRepackRows);
          for (int t = 0; t < nt; ++t)
            for (int64_t i = r; i < g_lim; ++i) c.y[(t0 + t) * c.ldy + i] = tmp[t * kRepackRows + (i - r)];
        }
      }
    }
  }
  // Rows past the last full group keep the original format, at the same offsets (rb per row).
  if (r1 > full) matmul_q8_0(wt, c, std::max(r0, full), r1);
}

}  // namespace lfmd::kernels::neon
