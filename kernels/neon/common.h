// Shared helpers of the NEON kernels (compiled with -march=armv8.2-a+dotprod+fp16 only).
// Float orders mirror the AVX2 kernels lane for lane: one 8-lane AVX2 register is a pair of
// float32x4 (lanes 0-3, 4-7), integer dots keep AVX2's per-lane groups of 4 products (vdotq_s32
// sums exactly the 4 bytes vpmaddubsw+vpmaddwd sum), FMAs stay FMAs and reductions use the same
// pairings. So the NEON table computes the same floats as the x86 build, which the llama.cpp
// oracle tests hold to llama.cpp's AVX2 build.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/ref/ref.h"

namespace lfmd::kernels::neon {

// Eight float lanes as AVX2 numbers them.
struct F8 {
  float32x4_t lo, hi;
};
inline F8 zero8() {
  return {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
}
inline F8 load8(const float* p) {
  return {vld1q_f32(p), vld1q_f32(p + 4)};
}
inline void store8(float* p, F8 v) {
  vst1q_f32(p, v.lo);
  vst1q_f32(p + 4, v.hi);
}
inline F8 add8(F8 a, F8 b) {
  return {vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)};
}
// acc + a * b, fused (as _mm256_fmadd_ps(a, b, acc)).
inline F8 fma8(F8 acc, F8 a, F8 b) {
  return {vfmaq_f32(acc.lo, a.lo, b.lo), vfmaq_f32(acc.hi, a.hi, b.hi)};
}
inline F8 fma8(F8 acc, F8 a, float32x4_t b) {
  return {vfmaq_f32(acc.lo, a.lo, b), vfmaq_f32(acc.hi, a.hi, b)};
}

// The AVX2 hsum: halves added, then [s0+s2, s1+s3], then (s0+s2)+(s1+s3).
inline float hsum4_avx(float32x4_t s) {
  const float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));
  return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}
inline float hsum8(F8 v) {
  return hsum4_avx(vaddq_f32(v.lo, v.hi));
}
// The AVX2 hsum_pairwise4 (ggml's f32 dot reduction): (v0+v2)+(v1+v3), halves added, then two
// pairwise (horizontal) adds: (t0+t1)+(t2+t3).
inline float hsum_pairwise4(const F8* v) {
  const F8 x = add8(add8(v[0], v[2]), add8(v[1], v[3]));
  const float32x4_t t0 = vaddq_f32(x.lo, x.hi);
  const float32x4_t t1 = vpaddq_f32(t0, t0);
  return vgetq_lane_f32(t1, 0) + vgetq_lane_f32(t1, 1);
}

inline float f16_to_f32(const void* p) {
  __fp16 h;
  std::memcpy(&h, p, 2);
  return static_cast<float>(h);
}
inline float round_to_f16(float x) {
  return static_cast<float>(static_cast<__fp16>(x));
}

inline int8x16_t load_s8(const void* p) {
  return vld1q_s8(static_cast<const int8_t*>(p));
}
inline uint8x16_t load_u8(const void* p) {
  return vld1q_u8(static_cast<const uint8_t*>(p));
}
inline int32x4_t dot(int8x16_t a, int8x16_t b) {
  return vdotq_s32(vdupq_n_s32(0), a, b);
}
inline F8 cvt8(int32x4_t lo, int32x4_t hi) {
  return {vcvtq_f32_s32(lo), vcvtq_f32_s32(hi)};
}

// Matmul arguments shared by all tiles of one call.
struct MatCtx {
  const uint8_t* w;
  size_t rb;  // bytes between weight rows
  const PreparedActs* acts;
  const void* q;  // prepared activations (kernel-specific layout), null for float weights
  float* y;
  int64_t ldy;
};

// A tile computes one weight row for tokens [t0, t0 + NT).
using TileFn = void (*)(const MatCtx&, int64_t r, int64_t t0);
constexpr int kMaxNT = 8;
struct Tiles {
  TileFn fn[kMaxNT];  // fn[nt-1] for nt = 1..max_nt
  int max_nt;
};
template <template <int> class K, int... I>
constexpr Tiles tiles_of(std::integer_sequence<int, I...>) {
  return Tiles{{K<I + 1>::run...}, static_cast<int>(sizeof...(I))};
}
template <template <int> class K, int NT>
constexpr Tiles make_tiles() {
  static_assert(NT >= 1 && NT <= kMaxNT);
  return tiles_of<K>(std::make_integer_sequence<int, NT>{});
}
// Rows [r0, r1) x tokens [0, n_tok): one row at a time for decode; for several tokens, rows in
// chunks whose weights stay in cache while every token group passes over them.
void run_tiles(const Tiles& tiles, const MatCtx& c, int64_t r0, int64_t r1, int64_t n_tok);

// Per-weight-family entry points (kernels/neon/*.cpp).
void matmul_float(DType wt, const MatCtx& c, int64_t r0, int64_t r1);
size_t q8_0_acts_bytes(int64_t n_in, int64_t n_tok);
void q8_0_prepare(PreparedActs& acts, void* scratch);
void matmul_q8_0(DType wt, const MatCtx& c, int64_t r0, int64_t r1);
// Bytes between tokens of the prepared Q8_0 activations ([nb][32] int8, then [nb] f32 scales).
size_t q8_0_tok_stride(int64_t n_in);
// Q4_0 / Q4_K on the repacked layout with smmla (kernels/neon_i8mm/, +i8mm: call only if the CPU
// has it).
void matmul_repacked_i8mm(DType wt, const MatCtx& c, int64_t n_rows, int64_t r0, int64_t r1);
size_t q8_K_acts_bytes(int64_t n_in, int64_t n_tok);
// Bytes between tokens of the prepared Q8_K activations (one ref::BlockQ8_K row per token).
size_t q8_K_tok_stride(int64_t n_in);
void q8_K_prepare(PreparedActs& acts, void* scratch);
void matmul_kquant(DType wt, const MatCtx& c, int64_t r0, int64_t r1);

// Small ops (kernels/neon/ops.cpp).
float32x4_t exp4(float32x4_t x);
void rmsnorm(const float* x, const float* w, int64_t n, float eps, float* y);
void swiglu(const float* gate, const float* up, int64_t n, float* out);
void conv_step(const float* const* hist, const float* cur, const float* kernel, int64_t L,
               int64_t n, float* out);
void attention_tile(const AttnTile& tile);  // kernels/neon/attention.cpp

constexpr size_t kAlign = 64;
inline size_t round_up(size_t v, size_t a) {
  return (v + a - 1) / a * a;
}
inline uint8_t* align_up(void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<uint8_t*>((v + kAlign - 1) / kAlign * kAlign);
}

}  // namespace lfmd::kernels::neon
