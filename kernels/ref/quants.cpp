// Reference (scalar) dequantization, quantization and quantized-activation integer dots.
// The float expressions mirror ggml's reference code operation by operation, so that results
// are bit-identical with ggml's to_float / quantize_row_*_ref.
#include <cmath>
#include <cstring>

#include "kernels/ref/ref.h"

namespace lfmd::kernels {

using namespace ref;

namespace {

void dequant_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += QK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      const int lo = (b[i].qs[j] & 0x0F) - 8;
      const int hi = (b[i].qs[j] >> 4) - 8;
      y[j] = lo * d;
      y[j + 16] = hi * d;
    }
  }
}

void dequant_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += QK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < QK; ++j) y[j] = b[i].qs[j] * d;
  }
}

void dequant_q4_K(const BlockQ4_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const float dmin = fp16_to_fp32(b[i].dmin);
    const uint8_t* q = b[i].qs;
    // 4 groups of 64 values; each group's 32 bytes hold sub-block 2g (low nibbles) and 2g+1.
    for (int g = 0; g < 4; ++g, q += 32) {
      uint8_t sc, m;
      scale_min_k4(2 * g, b[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      scale_min_k4(2 * g + 1, b[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void dequant_q5_K(const BlockQ5_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const float dmin = fp16_to_fp32(b[i].dmin);
    const uint8_t* ql = b[i].qs;
    const uint8_t* qh = b[i].qh;  // not advanced: bit 2g / 2g+1 serves group g
    for (int g = 0; g < 4; ++g, ql += 32) {
      const uint8_t u1 = static_cast<uint8_t>(1u << (2 * g)), u2 = static_cast<uint8_t>(2u << (2 * g));
      uint8_t sc, m;
      scale_min_k4(2 * g, b[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      scale_min_k4(2 * g + 1, b[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

void dequant_q6_K(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    // Two halves of 128 values; ql 64 bytes, qh 32 bytes and 8 scales per half.
    for (int h = 0; h < 2; ++h, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        // (d * scale) * q, in that order
        y[l + 0] = d * sc[is + 0] * static_cast<float>(q1);
        y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
    }
  }
}

void quant_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += QK) {
    float amax = 0.0f;
    for (int j = 0; j < QK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

void quant_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += QK) {
    // The value of largest magnitude (first one on ties) maps to -8.
    float amax = 0.0f, vmax = 0.0f;
    for (int j = 0; j < QK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        vmax = x[j];
      }
    }
    const float d = vmax / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
      // Truncation toward zero of (v + 8.5) = rounding of v + 8 for v >= -8.5.
      const int lo = static_cast<int8_t>(x[j] * id + 8.5f);
      const int hi = static_cast<int8_t>(x[j + 16] * id + 8.5f);
      y[i].qs[j] = static_cast<uint8_t>((lo < 15 ? lo : 15) | ((hi < 15 ? hi : 15) << 4));
    }
  }
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16: {
      const auto* h = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load_u16(h + 2 * i));
      return;
    }
    case DType::BF16: {
      const auto* h = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load_u16(h + 2 * i));
      return;
    }
    case DType::Q4_0: dequant_q4_0(static_cast<const BlockQ4_0*>(src), dst, n / QK); return;
    case DType::Q8_0: dequant_q8_0(static_cast<const BlockQ8_0*>(src), dst, n / QK); return;
    case DType::Q4_K: dequant_q4_K(static_cast<const BlockQ4_K*>(src), dst, n / QK_K); return;
    case DType::Q5_K: dequant_q5_K(static_cast<const BlockQ5_K*>(src), dst, n / QK_K); return;
    case DType::Q6_K: dequant_q6_K(static_cast<const BlockQ6_K*>(src), dst, n / QK_K); return;
  }
}

bool quantize_row(DType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return true;
    case DType::F16: {
      auto* h = static_cast<uint8_t*>(dst);
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t v = fp32_to_fp16(src[i]);
        std::memcpy(h + 2 * i, &v, 2);
      }
      return true;
    }
    case DType::BF16: {
      auto* h = static_cast<uint8_t*>(dst);
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t v = fp32_to_bf16(src[i]);
        std::memcpy(h + 2 * i, &v, 2);
      }
      return true;
    }
    case DType::Q8_0: quant_q8_0(src, static_cast<BlockQ8_0*>(dst), n / QK); return true;
    case DType::Q4_0: quant_q4_0(src, static_cast<BlockQ4_0*>(dst), n / QK); return true;
    case DType::Q4_K: quantize_row_q4_K(src, static_cast<BlockQ4_K*>(dst), n); return true;
    case DType::Q5_K: quantize_row_q5_K(src, static_cast<BlockQ5_K*>(dst), n); return true;
    case DType::Q6_K: quantize_row_q6_K(src, static_cast<BlockQ6_K*>(dst), n); return true;
  }
  return false;
}

namespace ref {

void quantize_act_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    float amax = 0.0f;
    for (int j = 0; j < QK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[i].d = fp32_to_fp16(d);
    // nearbyint: round half to even in the default rounding mode (as vroundps imm 0)
    for (int j = 0; j < QK; ++j) y[i].qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
  }
}

void quantize_act_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float amax = 0.0f, vmax = 0.0f;
    for (int j = 0; j < QK_K; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        vmax = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / vmax;
    for (int j = 0; j < QK_K; ++j) {
      const int v = static_cast<int>(std::nearbyint(iscale * x[j]));
      y[i].qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
    }
    for (int g = 0; g < QK_K / 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += y[i].qs[16 * g + l];
      y[i].bsums[g] = static_cast<int16_t>(s);
    }
    y[i].d = 1.0f / iscale;
  }
}

float dot_q4_0_q8_0(const void* w, const BlockQ8_0* a, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(w);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / QK; ++i) {
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      isum += ((b[i].qs[j] & 0xF) - 8) * a[i].qs[j];
      isum += ((b[i].qs[j] >> 4) - 8) * a[i].qs[j + 16];
    }
    sum += static_cast<float>(isum) * (fp16_to_fp32(b[i].d) * fp16_to_fp32(a[i].d));
  }
  return sum;
}

float dot_q8_0_q8_0(const void* w, const BlockQ8_0* a, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(w);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / QK; ++i) {
    int isum = 0;
    for (int j = 0; j < QK; ++j) isum += b[i].qs[j] * a[i].qs[j];
    sum += static_cast<float>(isum) * (fp16_to_fp32(b[i].d) * fp16_to_fp32(a[i].d));
  }
  return sum;
}

namespace {

// Shared tail of the Q4_K / Q5_K dots: q[256] holds the unsigned weight codes of one super-block.
// isum = sum_j sc_j * (q . a over sub-block j), msum = sum_j m_j * (sum of a over sub-block j).
float kquant_block_dot(const uint8_t* q, const uint8_t* scales, float d, float dmin,
                       const BlockQ8_K& a) {
  int isum = 0, msum = 0;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, scales, &sc, &m);
    int s = 0;
    for (int l = 0; l < 32; ++l) s += q[32 * j + l] * a.qs[32 * j + l];
    isum += sc * s;
    msum += m * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
  }
  return (d * a.d) * static_cast<float>(isum) - (dmin * a.d) * static_cast<float>(msum);
}

}  // namespace

float dot_q4_K_q8_K(const void* w, const BlockQ8_K* a, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(w);
  float sum = 0.0f;
  uint8_t q[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i) {
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        q[64 * g + l] = b[i].qs[32 * g + l] & 0xF;
        q[64 * g + 32 + l] = b[i].qs[32 * g + l] >> 4;
      }
    }
    sum += kquant_block_dot(q, b[i].scales, fp16_to_fp32(b[i].d), fp16_to_fp32(b[i].dmin), a[i]);
  }
  return sum;
}

float dot_q5_K_q8_K(const void* w, const BlockQ8_K* a, int64_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(w);
  float sum = 0.0f;
  uint8_t q[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i) {
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t h = b[i].qh[l];
        q[64 * g + l] = static_cast<uint8_t>((b[i].qs[32 * g + l] & 0xF) | (((h >> (2 * g)) & 1) << 4));
        q[64 * g + 32 + l] =
            static_cast<uint8_t>((b[i].qs[32 * g + l] >> 4) | (((h >> (2 * g + 1)) & 1) << 4));
      }
    }
    sum += kquant_block_dot(q, b[i].scales, fp16_to_fp32(b[i].d), fp16_to_fp32(b[i].dmin), a[i]);
  }
  return sum;
}

float dot_q6_K_q8_K(const void* w, const BlockQ8_K* a, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(w);
  float sum = 0.0f;
  int8_t q[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i) {
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      int8_t* o = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        o[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    // 16 sub-blocks of 16 values, each with a signed 8-bit scale.
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += q[16 * j + l] * a[i].qs[16 * j + l];
      isum += b[i].scales[j] * s;
    }
    sum += (fp16_to_fp32(b[i].d) * a[i].d) * static_cast<float>(isum);
  }
  return sum;
}

}  // namespace ref
}  // namespace lfmd::kernels
