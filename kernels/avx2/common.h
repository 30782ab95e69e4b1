// Shared helpers of the AVX2 kernels (compiled with -mavx2 -mfma -mf16c only).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/ref/ref.h"

namespace lfmd::kernels::avx2 {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sum of four 8-lane vectors in the order of ggml's f32 dot reduction:
// (v0 + v2) + (v1 + v3), then 128-bit halves, then two horizontal adds.
inline float hsum_pairwise4(const __m256* v) {
  const __m256 x = _mm256_add_ps(_mm256_add_ps(v[0], v[2]), _mm256_add_ps(v[1], v[3]));
  const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  const __m128 t1 = _mm_hadd_ps(t0, t0);
  return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

inline float f16_to_f32(const void* p) {
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(ref::load_u16(p))));
}
// fp16 value at p broadcast to 8 lanes.
inline __m256 bcast_f16(const void* p) {
  return _mm256_cvtph_ps(_mm_broadcastw_epi16(_mm_loadu_si16(p)));  // vpbroadcastw m16 + vcvtph2ps
}
inline float round_to_f16(float x) { return _cvtsh_ss(_cvtss_sh(x, 0)); }

inline __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 32 int16 pair-products of unsigned a and signed b summed into 8 int32 lanes.
inline __m256i dot_u8s8(__m256i a, __m256i b) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

// Sub-block sums of Q8_K activations for Q4_K/Q5_K's 8 sub-blocks of 32: bsums pairwise added.
inline __m128i bsums32(const ref::BlockQ8_K& a) {
  const __m256i s = loadu(a.bsums);
  return _mm_hadd_epi16(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// Matmul arguments shared by all tiles of one call.
struct MatCtx {
  const uint8_t* w;
  size_t rb;       // bytes between weight rows
  const PreparedActs* acts;
  const void* q;   // quantized activations (kernel-specific layout), may be null for floats
  float* y;
  int64_t ldy;
};

// A tile computes rows [r, r+NR) x tokens [t0, t0+NT).
using TileFn = void (*)(const MatCtx&, int64_t r, int64_t t0);
constexpr int kMaxNR = 4;
constexpr int kMaxNT = 8;
// fn[nr-1][nt-1]: decode tiles (decode_nr and 1 rows x 1 token) and prefill tiles (multi_nr
// rows and 1 row x 1..multi_nt tokens); other entries are null.
struct TileSet {
  TileFn fn[kMaxNR][kMaxNT];
  int decode_nr, multi_nr, multi_nt;
};

template <template <int, int> class K, int NR, int... I>
constexpr void fill_tiles(TileSet& s, std::integer_sequence<int, I...>) {
  ((s.fn[NR - 1][I] = K<NR, I + 1>::run), ...);
}

template <template <int, int> class K, int DNR, int MNR, int MNT>
constexpr TileSet make_tiles() {
  static_assert(DNR >= 1 && DNR <= kMaxNR && MNR >= 1 && MNR <= kMaxNR && MNT >= 1 && MNT <= kMaxNT);
  TileSet s{};
  s.decode_nr = DNR;
  s.multi_nr = MNR;
  s.multi_nt = MNT;
  s.fn[DNR - 1][0] = K<DNR, 1>::run;
  fill_tiles<K, 1>(s, std::make_integer_sequence<int, MNT>{});
  fill_tiles<K, MNR>(s, std::make_integer_sequence<int, MNT>{});
  return s;
}

// Walks rows [r0, r1) x tokens [0, n_tok) in tiles. Decode (n_tok == 1): decode_nr rows at a time.
// Otherwise rows are taken in chunks whose weights stay in L2 while all token groups pass over
// them, multi_nr rows x multi_nt tokens per tile.
void run_tiles(const TileSet& tiles, const MatCtx& c, int64_t r0, int64_t r1, int64_t n_tok);

const KernelTable* table();

// Per-weight-type matmul entry points (kernels/avx2/*.cpp).
void matmul_float(DType wt, const MatCtx& c, int64_t r0, int64_t r1);
// 8-lane exp (polynomial, ~1 ulp) and out = silu(gate) * up (kernels/avx2/activations.cpp).
__m256 exp8(__m256 x);
void swiglu(const float* gate, const float* up, int64_t n, float* out);
void conv_step(const float* const* hist, const float* cur, const float* kernel, int64_t L, int64_t n,
               float* out);
void attention_tile(const AttnTile& tile);  // kernels/avx2/attention.cpp
// Per-token layout of the prepared Q8_0 activations (token t starts at base + t * stride):
//   qs   [nb][32] int8      quantized values, element order
//   corr [nb][16] int16     vpmaddubsw(8, qs): pair sums of 8*a, to undo the Q4_0 +8 bias
//   d    [nb] f32           block scale
//   s8   [nb] int32         8 * sum of the block's qs (the Q4_0 bias for the repacked kernels)
// The layout does not depend on the weight type, so one preparation serves Q4_0 and Q8_0 weights.
struct Q8_0ActsLayout {
  int64_t nb;
  size_t corr_off, d_off, s8_off, stride;
};
Q8_0ActsLayout q8_0_acts_layout(int64_t n_in);
size_t q8_0_acts_bytes(int64_t n_in, int64_t n_tok);
void q8_0_prepare(PreparedActs& acts, void* scratch);
void matmul_q8_0(DType wt, const MatCtx& c, int64_t r0, int64_t r1);
// Prepared Q8_K activations: token t's n_in/256 BlockQ8_K blocks start at base + t * stride.
size_t q8_K_tok_stride(int64_t n_in);
size_t q8_K_acts_bytes(int64_t n_in, int64_t n_tok);
void q8_K_prepare(PreparedActs& acts, void* scratch);
void matmul_kquant(DType wt, const MatCtx& c, int64_t r0, int64_t r1);
// Repacked Q4_0 / Q8_0 / Q4_K (kernels.h, kRepackRows); c.w is the packed matrix of n_rows rows.
void matmul_repacked(DType wt, const MatCtx& c, int64_t n_rows, int64_t r0, int64_t r1);

}  // namespace lfmd::kernels::avx2
