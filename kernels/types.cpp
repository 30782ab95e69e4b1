// Type table and scalar fp16 / bf16 conversions (bit-exact with F16C and ggml).
#include <cstring>

#include "kernels/kernels.h"

namespace lfmd::kernels {

namespace {

const TypeInfo kF32{"F32", 1, 4};
const TypeInfo kF16{"F16", 1, 2};
const TypeInfo kBF16{"BF16", 1, 2};
const TypeInfo kQ4_0{"Q4_0", 32, 18};
const TypeInfo kQ8_0{"Q8_0", 32, 34};
const TypeInfo kQ4_K{"Q4_K", 256, 144};
const TypeInfo kQ5_K{"Q5_K", 256, 176};
const TypeInfo kQ6_K{"Q6_K", 256, 210};

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

const TypeInfo* type_info(uint32_t ggml_type) {
  switch (static_cast<DType>(ggml_type)) {
    case DType::F32: return &kF32;
    case DType::F16: return &kF16;
    case DType::BF16: return &kBF16;
    case DType::Q4_0: return &kQ4_0;
    case DType::Q8_0: return &kQ8_0;
    case DType::Q4_K: return &kQ4_K;
    case DType::Q5_K: return &kQ5_K;
    case DType::Q6_K: return &kQ6_K;
  }
  return nullptr;
}

size_t row_bytes(DType t, int64_t n) {
  const TypeInfo& ti = type_info(t);
  return static_cast<size_t>(n / ti.block_size) * ti.block_bytes;
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in float.
    const float v = static_cast<float>(mant) * 0x1.0p-24f;
    return bits_f32(sign | f32_bits(v));
  }
  if (exp == 31) {
    // Inf keeps its bits; NaN keeps its payload and becomes quiet (as vcvtph2ps does).
    return bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0u));
  }
  return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) {
    // NaN: keep the top 10 payload bits, force quiet (vcvtps2ph behaviour).
    return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  }
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 -> inf
  if (a >= 0x38800000u) {
    // Normal half: rebias the exponent (127 -> 15), round the 13 dropped bits to nearest even.
    uint32_t h = (a >> 13) - (112u << 10);
    const uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carry may reach the exponent: fine
    return static_cast<uint16_t>(sign | h);
  }
  // Half subnormal (or zero): value / 2^-24 = mant24 >> (126 - exp), rounded to nearest even.
  const uint32_t exp = a >> 23;
  if (exp < 102) return sign;  // < 2^-25: rounds to zero
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - exp;  // 14..24
  uint32_t h = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (h & 1u))) ++h;  // may become 0x400 = smallest normal
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_fp32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace lfmd::kernels
