// AVX-VNNI matmul for file-layout Q4_K / Q5_K / Q6_K weights against the AVX2 table's Q8_K
// activations: the AVX2 kernel (kernels/avx2/matmul_kquant.cpp) with each scale step
// add(sum, madd(scale, maddubs(q, a))) fused into vpdpwssd(sum, maddubs(q, a), scale): 2
// instructions per 32 bytes and token instead of 3. Same int32 lanes, same float operations:
// results are bit-identical to the AVX2 table.
// Compiled with AVX-VNNI flags: only intrinsics, local helpers and the static ones of lane_helpers.h (no shared inline code).
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/lane_helpers.h"  // static: compiled under this file's flags
#include "kernels/avx2/common.h"  // declarations (MatCtx, TileSet, run_tiles); no inline use
#include "kernels/avxvnni/avxvnni.h"

namespace lfmd::kernels::avxvnni {

namespace {

using ref::BlockQ8_K;
using x86::f16;
using x86::hsum4;
using x86::hsum8;
using x86::hsum_epi32;
using x86::ld256;
using x86::unpack_scales_k4;

// sum + pairwise (u8 q . s8 a) x int16 scale s.
inline __m256i dot_scaled(__m256i sum, __m256i q, const void* a, __m256i s) {
  return _mm256_dpwssd_avx_epi32(sum, _mm256_maddubs_epi16(q, ld256(a)), s);
}

const BlockQ8_K* tok_blocks(const avx2::MatCtx& c, int64_t t) {
  return reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(c.q) +
                                            t * avx2::q8_K_tok_stride(c.acts->n_in));
}

// Q4_K (HIGH5 = false) and Q5_K (HIGH5 = true), 1 row x NT tokens; as avx2 KTile.
template <bool HIGH5>
struct KTile {
  template <int NR, int NT>
  struct K {
    static void run(const avx2::MatCtx& c, int64_t r, int64_t t0) {
      static_assert(NR == 1);
      const int64_t nb = c.acts->n_in / ref::QK_K;
      const size_t wbytes = HIGH5 ? sizeof(ref::BlockQ5_K) : sizeof(ref::BlockQ4_K);
      const BlockQ8_K* ab[NT];
      for (int t = 0; t < NT; ++t) ab[t] = tok_blocks(c, t0 + t);
      const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
      __m256 acc[NT];
      __m128 accm4[NT];
      float accm[NT];
      for (int t = 0; t < NT; ++t)
        acc[t] = _mm256_setzero_ps(), accm4[t] = _mm_setzero_ps(), accm[t] = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = c.w + r * c.rb + b * wbytes;
        const float d = f16(blk), dmin = f16(blk + 2);
        const uint8_t* qs = blk + (HIGH5 ? 48 : 16);
        uint8_t sc[8], mn[8];
        unpack_scales_k4(blk + 4, sc, mn);
        uint64_t mn64;
        std::memcpy(&mn64, mn, 8);
        const __m128i mins16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(mn64)));
        __m256i hbits = _mm256_setzero_si256();
        if constexpr (HIGH5) hbits = ld256(blk + 16);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int g = 0; g < 4; ++g) {
          const __m256i raw = ld256(qs + 32 * g);
          __m256i lo = _mm256_and_si256(raw, m4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
          if constexpr (HIGH5) {
            const __m256i ml = _mm256_set1_epi8(static_cast<char>(1 << (2 * g)));
            const __m256i mh = _mm256_set1_epi8(static_cast<char>(2 << (2 * g)));
            lo = _mm256_or_si256(
                lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, ml), ml), bit4));
            hi = _mm256_or_si256(
                hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, mh), mh), bit4));
          }
          const __m256i slo = _mm256_set1_epi16(sc[2 * g]), shi = _mm256_set1_epi16(sc[2 * g + 1]);
          for (int t = 0; t < NT; ++t) {
            const int8_t* a = ab[t][b].qs + 64 * g;
            sumi[t] = dot_scaled(dot_scaled(sumi[t], lo, a, slo), hi, a + 32, shi);
          }
        }
        for (int t = 0; t < NT; ++t) {
          const float da = ab[t][b].d;
          const __m256i bs = ld256(ab[t][b].bsums);
          const __m128i bsums32 =
              _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
          const __m128i prod = _mm_madd_epi16(mins16, bsums32);
          if constexpr (HIGH5) {
            accm[t] += -(dmin * da) * static_cast<float>(hsum_epi32(prod));
          } else {
            accm4[t] = _mm_fmadd_ps(_mm_set1_ps(-(dmin * da)), _mm_cvtepi32_ps(prod), accm4[t]);
          }
          acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[t]), _mm256_set1_ps(d * da), acc[t]);
        }
      }
      for (int t = 0; t < NT; ++t)
        c.y[(t0 + t) * c.ldy + r] = hsum8(acc[t]) + (HIGH5 ? accm[t] : hsum4(accm4[t]));
    }
  };
};

// Byte shuffles: 8 copies of scale 2p then 8 copies of scale 2p+1.
alignas(16) constexpr uint8_t kPairShuf[8][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9},
    {10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13},
    {14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};

// Q6_K, 1 row x NT tokens; as avx2 Q6KTile: isum = sum_j sc_j (u.a)_j - 32 sum_j sc_j bsum_j.
template <int NR, int NT>
struct Q6KTile {
  static void run(const avx2::MatCtx& c, int64_t r, int64_t t0) {
    static_assert(NR == 1);
    const int64_t nb = c.acts->n_in / ref::QK_K;
    const BlockQ8_K* ab[NT];
    for (int t = 0; t < NT; ++t) ab[t] = tok_blocks(c, t0 + t);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m03 = _mm256_set1_epi8(0x03), m0c = _mm256_set1_epi8(0x0C);
    const __m256i m30 = _mm256_set1_epi8(0x30), mc0 = _mm256_set1_epi8(static_cast<char>(0xC0));
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* base = c.w + r * c.rb + b * sizeof(ref::BlockQ6_K);
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + 192));
      const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
      const float d = f16(base + 208);
      __m256i sumi[NT];
      for (int t = 0; t < NT; ++t)
        sumi[t] =
            _mm256_sub_epi32(_mm256_setzero_si256(),
                             _mm256_slli_epi32(_mm256_madd_epi16(sc16, ld256(ab[t][b].bsums)), 5));
      for (int h = 0; h < 2; ++h) {
        const __m256i ql0 = ld256(base + 64 * h), ql1 = ld256(base + 64 * h + 32);
        const __m256i qh = ld256(base + 128 + 32 * h);
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                               _mm256_slli_epi16(_mm256_and_si256(qh, m03), 4));
        q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                               _mm256_slli_epi16(_mm256_and_si256(qh, m0c), 2));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                               _mm256_and_si256(qh, m30));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                               _mm256_srli_epi16(_mm256_and_si256(qh, mc0), 2));
        for (int k = 0; k < 4; ++k) {
          // chunk k covers sub-blocks 8h+2k (low 16 values) and 8h+2k+1
          const __m128i shuf =
              _mm_load_si128(reinterpret_cast<const __m128i*>(kPairShuf[4 * h + k]));
          const __m256i s = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, shuf));
          for (int t = 0; t < NT; ++t)
            sumi[t] = dot_scaled(sumi[t], q[k], ab[t][b].qs + 128 * h + 32 * k, s);
        }
      }
      for (int t = 0; t < NT; ++t)
        acc[t] =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[t]), _mm256_set1_ps(d * ab[t][b].d), acc[t]);
    }
    for (int t = 0; t < NT; ++t) c.y[(t0 + t) * c.ldy + r] = hsum8(acc[t]);
  }
};

// As the AVX2 table: decode one row, prefill 1 row x 4 tokens (16 ymm registers).
constexpr avx2::TileSet kQ4KTiles = avx2::make_tiles<KTile<false>::K, 1, 1, 4>();
constexpr avx2::TileSet kQ5KTiles = avx2::make_tiles<KTile<true>::K, 1, 1, 4>();
constexpr avx2::TileSet kQ6KTiles = avx2::make_tiles<Q6KTile, 1, 1, 4>();

}  // namespace

// Q8_0 prefill tiles (kernels/avxvnni/matmul_q8_0.cpp).
void q8_0_prefill(const avx2::MatCtx& c, int64_t r0, int64_t r1);

void matmul(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
            const PreparedActs& acts, float* y, int64_t ldy) {
  if (wt == DType::Q8_0 && acts.q != nullptr && acts.n_tok > 1 && r1 > r0) {
    const avx2::MatCtx c{static_cast<const uint8_t*>(w), w_row_bytes, &acts, acts.q, y, ldy};
    q8_0_prefill(c, r0, r1);
    return;
  }
  const bool kq = wt == DType::Q4_K || wt == DType::Q5_K || wt == DType::Q6_K;
  if (!kq || acts.q == nullptr || r1 <= r0 || acts.n_tok <= 0) {
    // Other types, or activations to quantize privately: the AVX2 table (same results).
    avx2_table()->matmul(wt, w, w_row_bytes, r0, r1, acts, y, ldy);
    return;
  }
  const avx2::MatCtx c{static_cast<const uint8_t*>(w), w_row_bytes, &acts, acts.q, y, ldy};
  const avx2::TileSet& tiles = wt == DType::Q4_K   ? kQ4KTiles
                               : wt == DType::Q5_K ? kQ5KTiles
                                                   : kQ6KTiles;
  avx2::run_tiles(tiles, c, r0, r1, acts.n_tok);
}

}  // namespace lfmd::kernels::avxvnni
