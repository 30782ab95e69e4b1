// Reference quantizers of the K-quant formats Q4_K, Q5_K and Q6_K (no importance matrix).
// They search scales the way ggml's reference quantizers do (weighted least squares over a few
// candidate scales), evaluating the same float expressions in the same order, so that their
// blocks are bit-identical with llama.cpp's quantizer output. Built without FMA contraction.
#include <cmath>
#include <cstring>

#include "kernels/ref/ref.h"

namespace lfmd::kernels::ref {
namespace {

// Round half to even (what ggml gets by adding 1.5 * 2^23); |v| < 2^22.
inline int round_even(float v) {
  return static_cast<int>(std::nearbyintf(v));
}

inline int clamp_int(int v, int lo, int hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// Weighted error of codes q under x ~= scale * q + offset: sum_i w_i * (scale*q_i + offset -
// x_i)^2.
float weighted_sq_error(const float* x, const float* w, const uint8_t* q, int n, float scale,
                        float offset) {
  float err = 0.0f;
  for (int i = 0; i < n; ++i) {
    float diff = scale * q[i] + offset - x[i];
    diff = diff * diff;
    err += w[i] * diff;
  }
  return err;
}

// Asymmetric codes 0..nmax for n values: x ~= scale * q - mn, with mn >= 0 returned in *neg_min.
// First the min/max grid, then nstep+1 widened or narrowed grids, each refitted by weighted least
// squares; the candidate with the smallest weighted squared error wins. Returns the scale.
float fit_affine_codes(int n, int nmax, const float* x, const float* w, uint8_t* q, float* neg_min,
                       float rmin, float rdelta, int nstep) {
  float lo = x[0], hi = x[0];
  float sw = w[0];
  float sx = sw * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    sw += w[i];
    sx += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::memset(q, 0, static_cast<size_t>(n));
    *neg_min = -lo;
    return 0.0f;
  }
  float inv = nmax / (hi - lo);
  float scale = 1 / inv;
  for (int i = 0; i < n; ++i)
    q[i] = static_cast<uint8_t>(clamp_int(round_even(inv * (x[i] - lo)), 0, nmax));
  float best = weighted_sq_error(x, w, q, n, scale, lo);
  uint8_t cand[32];
  for (int step = 0; step <= nstep; ++step) {
    inv = (rmin + rdelta * step + nmax) / (hi - lo);
    float sl = 0, sl2 = 0, sxl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(round_even(inv * (x[i] - lo)), 0, nmax);
      cand[i] = static_cast<uint8_t>(l);
      sl += w[i] * l;
      sl2 += w[i] * l * l;
      sxl += w[i] * l * x[i];
    }
    const float det = sw * sl2 - sl * sl;
    if (!(det > 0)) continue;
    float s = (sw * sxl - sx * sl) / det;
    float m = (sl2 * sx - sl * sxl) / det;
    if (m > 0) {  // the offset must not be positive: refit the scale alone
      m = 0;
      s = sxl / sl2;
    }
    const float err = weighted_sq_error(x, w, cand, n, s, m);
    if (err < best) {
      std::memcpy(q, cand, static_cast<size_t>(n));
      best = err;
      scale = s;
      lo = m;
    }
  }
  *neg_min = -lo;
  return scale;
}

// Symmetric codes for 16 values, q in 0..63 meaning q - 32, weights x^2; tries 18 scales around
// 32/max and keeps the best least-squares fit. Returns the scale (0 for an all-zero group).
float fit_symmetric_codes16(const float* x, int8_t* q) {
  constexpr int n = 16, nmax = 32;
  float amax = 0, vmax = 0;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a > amax) {
      amax = a;
      vmax = x[i];
    }
  }
  if (amax < 1e-15f) {
    std::memset(q, 0, n);
    return 0.0f;
  }
  // Sums of w*x*l and w*l*l for the codes of inverse scale inv (w = x^2).
  auto sums = [&](float inv, float* sxl, float* sll, bool store) {
    *sxl = 0;
    *sll = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(round_even(inv * x[i]), -nmax, nmax - 1);
      if (store) q[i] = static_cast<int8_t>(l + nmax);
      const float w = x[i] * x[i];
      *sxl += w * x[i] * l;
      *sll += w * l * l;
    }
  };
  float sxl, sll;
  sums(-nmax / vmax, &sxl, &sll, true);
  float scale = sll ? sxl / sll : 0.0f;
  float best = scale * sxl;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    const float inv = -(nmax + 0.1f * k) / vmax;
    sums(inv, &sxl, &sll, false);
    if (sll > 0 && sxl * sxl > best * sll) {
      sums(inv, &sxl, &sll, true);
      scale = sxl / sll;
      best = scale * sxl;
    }
  }
  return scale;
}

// Q4_K / Q5_K share everything but the code range and the search grid.
// codes[256] receives the final codes 0..nmax; scales/d/dmin are written into the block fields.
void quantize_kquant_affine(const float* x, int nmax, float rmin, int nstep, uint8_t* scales12,
                            uint16_t* d_out, uint16_t* dmin_out, uint8_t* codes) {
  float sub_scale[8], sub_min[8], w[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xs[l]);
    sub_scale[j] =
        fit_affine_codes(32, nmax, xs, w, codes + 32 * j, &sub_min[j], rmin, 0.1f, nstep);
    if (sub_scale[j] > max_scale) max_scale = sub_scale[j];
    if (sub_min[j] > max_min) max_min = sub_min[j];
  }
  // 6-bit scales and mins relative to the largest ones.
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::memset(scales12, 0, 12);
  for (int j = 0; j < 8; ++j) {
    uint8_t ls = static_cast<uint8_t>(round_even(inv_scale * sub_scale[j]));
    uint8_t lm = static_cast<uint8_t>(round_even(inv_min * sub_min[j]));
    if (ls > 63) ls = 63;
    if (lm > 63) lm = 63;
    if (j < 4) {
      scales12[j] = ls;
      scales12[j + 4] = lm;
    } else {  // low 4 bits in bytes 8..11, high 2 bits in the top of bytes 0..7
      scales12[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      scales12[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      scales12[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  *d_out = fp32_to_fp16(max_scale / 63.f);
  *dmin_out = fp32_to_fp16(max_min / 63.f);
  // Requantize every value with the rounded (stored) scales.
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, scales12, &sc, &m);
    const float d = fp16_to_fp32(*d_out) * sc;
    if (!d) continue;
    const float dm = fp16_to_fp32(*dmin_out) * m;
    for (int l = 0; l < 32; ++l) {
      codes[32 * j + l] =
          static_cast<uint8_t>(clamp_int(round_even((x[32 * j + l] + dm) / d), 0, nmax));
    }
  }
}

}  // namespace

void quantize_row_q4_K(const float* x, BlockQ4_K* y, int64_t n) {
  uint8_t codes[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    uint16_t d, dmin;  // (fields of a packed struct: no pointers to them)
    quantize_kquant_affine(x, 15, -1.0f, 20, y[i].scales, &d, &dmin, codes);
    y[i].d = d;
    y[i].dmin = dmin;
    // 4 groups of 64: 32 bytes each, sub-block 2g in the low nibbles, 2g+1 in the high ones.
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        y[i].qs[32 * g + l] =
            static_cast<uint8_t>(codes[64 * g + l] | (codes[64 * g + 32 + l] << 4));
      }
    }
  }
}

void quantize_row_q5_K(const float* x, BlockQ5_K* y, int64_t n) {
  uint8_t codes[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    uint16_t d, dmin;  // (fields of a packed struct: no pointers to them)
    quantize_kquant_affine(x, 31, -0.5f, 15, y[i].scales, &d, &dmin, codes);
    y[i].d = d;
    y[i].dmin = dmin;
    std::memset(y[i].qh, 0, sizeof(y[i].qh));
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        const int lo = codes[64 * g + l], hi = codes[64 * g + 32 + l];
        // the 5th bit of each code goes to bit 2g (low half) or 2g+1 (high half) of qh[l]
        y[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1)));
        y[i].qs[32 * g + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      }
    }
  }
}

void quantize_row_q6_K(const float* x, BlockQ6_K* y, int64_t n) {
  int8_t codes[QK_K];
  float sub_scale[16];
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float max_scale = 0, max_abs = 0;
    for (int j = 0; j < 16; ++j) {
      sub_scale[j] = fit_symmetric_codes16(x + 16 * j, codes + 16 * j);
      if (std::fabs(sub_scale[j]) > max_abs) {
        max_abs = std::fabs(sub_scale[j]);
        max_scale = sub_scale[j];
      }
    }
    if (max_abs < 1e-15f) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float inv = -128.f / max_scale;
    y[i].d = fp32_to_fp16(1 / inv);
    for (int j = 0; j < 16; ++j) {
      const int s = round_even(inv * sub_scale[j]);
      y[i].scales[j] = static_cast<int8_t>(s < 127 ? s : 127);
    }
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int l = 0; l < 16; ++l) {
        codes[16 * j + l] =
            static_cast<int8_t>(clamp_int(round_even(x[16 * j + l] / d), -32, 31) + 32);
      }
    }
    // Two halves of 128: low nibbles of codes l, l+32 (ql[l]) and l+64, l+96 (high nibbles),
    // the two top bits of the four codes packed into qh[l].
    for (int h = 0; h < 2; ++h) {
      const int8_t* c = codes + 128 * h;
      uint8_t* ql = y[i].ql + 64 * h;
      uint8_t* qh = y[i].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((c[l] & 0xF) | ((c[l + 64] & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((c[l + 32] & 0xF) | ((c[l + 96] & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((c[l] >> 4) | ((c[l + 32] >> 4) << 2) |
                                     ((c[l + 64] >> 4) << 4) | ((c[l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace lfmd::kernels::ref
