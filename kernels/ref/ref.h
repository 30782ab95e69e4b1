// Internal to lfmd_kernels (and its tests): block layouts, quantized-activation references and
// the scalar small ops, so that ISA tables can reuse them and tests can compare against them.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cstring>
#include <vector>

#include "kernels/kernels.h"

namespace lfmd::kernels::ref {

constexpr int QK = 32;    // block size of Q4_0 / Q8_0
constexpr int QK_K = 256; // super-block size of the K-quants

// ggml block layouts (byte-exact; fp16 fields stored as raw uint16_t). Packed so that rows at any
// byte address are valid (the compiler emits unaligned-safe loads).
#define LFMD_PACKED __attribute__((packed))
struct LFMD_PACKED BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];  // low nibbles: values 0..15, high nibbles: values 16..31
};
struct LFMD_PACKED BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct LFMD_PACKED BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];  // 8 x (6-bit scale, 6-bit min), packed
  uint8_t qs[128];
};
struct LFMD_PACKED BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];  // bit j of qh[l] = 5th bit of element 32*j + l
  uint8_t qs[128];
};
struct LFMD_PACKED BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
// Activation super-block for K-quant dots (ggml block_q8_K): x ~= d * qs.
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];  // sums of qs in groups of 16
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// Unaligned-safe little-endian loads.
inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline float load_f32(const void* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the packed 12 bytes.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Which activation format an integer-dot kernel pairs with a weight type.
enum class ActQuant { None, Q8_0, Q8_K };
inline ActQuant act_quant_for(DType wt) {
  switch (wt) {
    case DType::Q4_0:
    case DType::Q8_0: return ActQuant::Q8_0;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return ActQuant::Q8_K;
    default: return ActQuant::None;
  }
}

// ---- K-quant weight quantizers (ggml's reference rounding, no importance matrix) ----
// n multiple of 256. Bit-identical with ggml's quantize_row_q{4,5,6}_K_ref.
void quantize_row_q4_K(const float* x, BlockQ4_K* y, int64_t n);
void quantize_row_q5_K(const float* x, BlockQ5_K* y, int64_t n);
void quantize_row_q6_K(const float* x, BlockQ6_K* y, int64_t n);

// ---- activation quantization (what ggml's x86 CPU backend does to activations) ----
// Q8_0: d = amax/127 (stored fp16), q = round-half-even(x * (127/amax)); n multiple of 32.
void quantize_act_q8_0(const float* x, BlockQ8_0* y, int64_t n);
// Q8_K: iscale = -127/max (max = signed value of largest |x|), q = min(127, rint(x*iscale)),
// d = 1/iscale, bsums per 16; an all-zero block gets d = 0. n multiple of 256.
void quantize_act_q8_K(const float* x, BlockQ8_K* y, int64_t n);

// ---- integer dot products, weight row (n elements) . quantized activations ----
// Per block: exact int32 sum of products, then (d_w*d_a) * isum accumulated in float.
float dot_q4_0_q8_0(const void* w, const BlockQ8_0* a, int64_t n);
float dot_q8_0_q8_0(const void* w, const BlockQ8_0* a, int64_t n);
// K-quants: per super-block integer sums (scales applied in int), then d*isum - dmin*msum.
float dot_q4_K_q8_K(const void* w, const BlockQ8_K* a, int64_t n);
float dot_q5_K_q8_K(const void* w, const BlockQ8_K* a, int64_t n);
float dot_q6_K_q8_K(const void* w, const BlockQ8_K* a, int64_t n);

// Reference of what the quantized-activation SIMD kernels compute: quantize each activation row
// as act_quant_for(wt) says, then integer dots. For wt without an activation format this is the
// plain f32 reference matmul.
void matmul_qact(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
                 const float* x, int64_t ldx, int64_t n_in, int64_t n_tok, float* y, int64_t ldy);

// ---- repacked Q4_0 / Q8_0 / Q4_K rows (layout in kernels.h, kRepackRows) ----
// Bytes of the packed form (= the original size), 0 if wt is not Q4_0 / Q8_0 / Q4_K.
size_t repack_bytes(DType wt, int64_t n_in, int64_t n_rows);
size_t repack_group_bytes(DType wt, int64_t n_in);  // bytes of one group of kRepackRows rows
void repack(DType wt, const void* src, size_t src_row_bytes, int64_t n_in, int64_t n_rows, void* dst);
// Original-format copy of row `row` (< the rows in full groups) of a packed matrix.
void unpack_row(DType wt, const void* packed, int64_t n_in, int64_t row, void* dst);
// matmul_qact on a packed matrix of n_rows rows (rows [r0, r1)).
void matmul_repacked_qact(DType wt, const void* w, int64_t n_rows, int64_t r0, int64_t r1, const float* x,
                          int64_t ldx, int64_t n_in, int64_t n_tok, float* y, int64_t ldy);

// Float dot with 8 interleaved partial sums (the scalar matmul's accumulation order).
float dot_f32(const float* a, const float* b, int64_t n);

// ---- scalar small ops (the scalar KernelTable entries) ----
void rmsnorm(const float* x, const float* w, int64_t n, float eps, float* y);
void rope_neox(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base);
void softmax(float* x, int64_t n, float scale);
void swiglu(const float* gate, const float* up, int64_t n, float* out);
void sigmoid(const float* x, int64_t n, float* out);
void conv_step(const float* const* hist, const float* cur, const float* kernel, int64_t L,
               int64_t n, float* out);
void attention_tile(const AttnTile& tile);

}  // namespace lfmd::kernels::ref

namespace lfmd::kernels {
#if defined(LFMD_HAVE_AVX2)
// Defined in kernels/avx2/; nullptr when the CPU lacks AVX2/FMA/F16C.
const KernelTable* avx2_table();
#endif
#if defined(LFMD_HAVE_AVX512)
// Defined in kernels/avx512/; nullptr when the CPU lacks AVX2 or AVX-512 F/BW/VL/VNNI.
const KernelTable* avx512_table();
#endif
#if defined(LFMD_HAVE_AVXVNNI)
// Defined in kernels/avxvnni/; nullptr when the CPU lacks AVX2/FMA/F16C or AVX-VNNI.
const KernelTable* avxvnni_table();
#endif
#if defined(LFMD_HAVE_NEON)
// Defined in kernels/neon/; nullptr when the CPU lacks the dot-product or fp16 extensions.
const KernelTable* neon_table();
const KernelTable* neon_i8mm_table();  // NEON + i8mm (repacked Q4_0/Q4_K); null without HWCAP2_I8MM
#endif
}  // namespace lfmd::kernels
