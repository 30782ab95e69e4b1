// Scalar and SSE/AVX helpers shared by the x86 kernels (kernels/avx2, kernels/avxvnni,
// kernels/avx512). Each is static (internal linkage): every file compiles its own copy under its
// own ISA flags, so the linker can never hand an AVX-512 build of one to the AVX2 table.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace lfmd::kernels::x86 {

static inline __m256i ld256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
static inline float f16(const void* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
// The AVX2 kernels' horizontal sums (avx2::hsum and the 4-lane one), same order.
static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline float hsum4(__m128 m) {
  m = _mm_add_ps(m, _mm_movehl_ps(m, m));
  m = _mm_add_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
static inline int hsum_epi32(__m128i v) {
  v = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 1));
  return _mm_cvtsi128_si32(v);
}
// Q4_K/Q5_K packed 6-bit scales -> sc[0..7], m[0..7] (same rule as ref::scale_min_k4, 4 at a time).
// A repacked Q4_K super-block of 8 rows (kernels.h: its 12 packed scale bytes as [k][row] at
// g + 32): the rows' 6-bit scales and mins as [sub-block j][row], 64 bytes each.
static inline void unpack_scales_k4_group(const uint8_t* g, uint8_t* sc, uint8_t* mn) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(0x3F), m30 = _mm256_set1_epi8(0x30);
  const __m256i A = ld256(g + 32), B = ld256(g + 64), C = ld256(g + 96);  // k 0..3, 4..7, 8..11
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(sc), _mm256_and_si256(A, m6));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(sc + 32),
                      _mm256_or_si256(_mm256_and_si256(C, m4), _mm256_and_si256(_mm256_srli_epi16(A, 2), m30)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(mn), _mm256_and_si256(B, m6));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(mn + 32),
                      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(C, 4), m4),
                                      _mm256_and_si256(_mm256_srli_epi16(B, 2), m30)));
}
static inline void unpack_scales_k4(const uint8_t* packed, uint8_t sc[8], uint8_t m[8]) {
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

// Sums of a Q8_K block's activations over its 8 sub-blocks of 32 (bsums are per 16) as int16
// pairs (each |sum| <= 32 * 127): dword kSumPairDword[k] = (sum over sub-block 2k, over 2k + 1),
// the min-term multiplier of the repacked Q4_K kernels' vpdpwssd. Same integers as adding the
// bsums one by one.
static constexpr int kSumPairDword[4] = {0, 1, 4, 5};
static inline __m256i sub_block_sum_pairs(const int16_t* bsums) {
  const __m256i s32 = _mm256_madd_epi16(ld256(bsums), _mm256_set1_epi16(1));
  return _mm256_packs_epi32(s32, s32);  // per 128-bit lane: the lane's four sums as int16
}
// Pair k of sub_block_sum_pairs() in every dword.
static inline __m256i sub_block_sum_pair(__m256i pairs, int k) {
  return _mm256_permutevar8x32_epi32(pairs, _mm256_set1_epi32(kSumPairDword[k]));
}

// A tile of nr file-layout rows reads nr short streams (one per row, each a few KiB), which the
// hardware prefetcher follows poorly from DRAM (AVX-512 Q6_K, 2 rows x 2 tokens: 8.5 against 19
// GB/s for the one-row AVX2 tile). Rows are contiguous, so the tiles ahead are one linear stream:
// in the first token tile of a row chunk (later ones find the chunk in L2), block b prefetches its
// share of the rows ~kRowsAheadBytes further on (whole tiles), in step with the block loop.
// In an unnamed namespace: its inline members then have internal linkage like the functions
// above, so no TU can be handed another ISA's out-of-line copy.
namespace {
class RowsAhead {
 public:
  static constexpr int64_t kRowsAheadBytes = 8192;
  // Rows [r, r + nr) of rb bytes each, blocks of block_bytes per row; on = first token tile.
  RowsAhead(const uint8_t* w, size_t rb, int64_t r, int nr, size_t block_bytes, bool on)
      : step_(static_cast<int64_t>(block_bytes) * nr),
        lines_(on ? static_cast<int>((step_ + 63) / 64) : 0) {
    const int64_t tile = static_cast<int64_t>(rb) * nr;
    next_ = reinterpret_cast<const char*>(w) +
            (r + nr * ((kRowsAheadBytes + tile - 1) / tile)) * static_cast<int64_t>(rb);
  }
  void at(int64_t b) const {
    for (int l = 0; l < lines_; ++l) _mm_prefetch(next_ + b * step_ + 64 * l, _MM_HINT_T0);
  }

 private:
  int64_t step_;
  int lines_;
  const char* next_;
};
}  // namespace

}  // namespace lfmd::kernels::x86
